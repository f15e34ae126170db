/**
 * Kubernetes label selectors (metav1.LabelSelector): matchLabels AND every matchExpression. An empty
 * selector selects everything; a missing one is decided by the caller (it means different things for
 * podSelector and namespaceSelector). Unknown operators select nothing: the API server would have
 * rejected them, so whatever sent one is not to be trusted with a wider match.
 */
import type { LabelSelector } from './policy-types.js';

export type Labels = Readonly<Record<string, string>> | undefined;

export function selects(selector: LabelSelector, labels: Labels): boolean {
  const l = labels ?? {};
  const ml = selector.matchLabels ?? {};
  const exprs = selector.matchExpressions ?? [];
  if (typeof ml !== 'object' || !Array.isArray(exprs)) return false;
  for (const [k, v] of Object.entries(ml)) if (l[k] !== v) return false;
  for (const e of exprs) {
    if (typeof e?.key !== 'string') return false;
    const has = Object.hasOwn(l, e.key);
    const values = Array.isArray(e.values) ? e.values : [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(l[e.key])) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[e.key])) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
