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
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has || !values.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(l[e.key]!)) return false;
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
