/**
 * Kubernetes manifests checked the way the API server would check them, without an API server.
 *
 * Two maintained libraries, both generated from the Kubernetes OpenAPI spec:
 * - kubernetes-models: the API schemas compiled to validators (types, enums, required fields, quantity and
 *   int-or-string formats). It lets unknown fields through, so on its own a misspelt `tolerattions` passes.
 * - @kubernetes/client-node: its models list every field of every type; walking an object along them finds
 *   the fields the API does not have, which is what `kubectl apply` (strict field validation) rejects.
 * Nothing here knows a field by name: the schemas do.
 */
import { readFile } from 'node:fs/promises';
import * as kubeModels from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

/** Every document of a YAML file, parsed strictly (duplicate keys and YAML errors fail). */
export async function loadManifests(path: string): Promise<KubeObject[]> {
  const documents = parseAllDocuments(await readFile(path, 'utf8'), { uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(documents)) throw new Error(`${path}: no YAML documents`);
  return documents.flatMap((doc, index) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${path} document ${index + 1}: ${problems.map((p) => p.message).join('; ')}`);
    const value = doc.toJS() as KubeObject | null;
    return value === null ? [] : [value];
  });
}

/** Problems the API server would report for this object; empty when it would accept it. */
export async function validateKubeObject(object: KubeObject): Promise<string[]> {
  return [...(await schemaProblems(object)), ...unknownFieldProblems(object)];
}

async function schemaProblems(object: KubeObject): Promise<string[]> {
  const modelPath = `kubernetes-models/${object.apiVersion}/${object.kind}`;
  type Model = new (data: unknown) => { validate(): void };
  let model: Model | undefined;
  try {
    model = ((await import(modelPath)) as Record<string, Model | undefined>)[object.kind];
  } catch {
    return [`${object.apiVersion} ${object.kind}: not a Kubernetes API type (no ${modelPath})`];
  }
  if (model === undefined) return [`${object.apiVersion} ${object.kind}: not a Kubernetes API type`];
  try {
    new model(object).validate();
    return [];
  } catch (error) {
    return [(error as Error).message];
  }
}

type AttributeTypeMap = Array<{ baseName: string; type: string }>;
const models = kubeModels as unknown as Record<string, { getAttributeTypeMap?: () => AttributeTypeMap } | undefined>;

/** client-node's model name for a kind: apps/v1 DaemonSet → V1DaemonSet. */
export function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').pop() ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

function unknownFieldProblems(object: KubeObject): string[] {
  const type = modelName(object.apiVersion, object.kind);
  if (models[type]?.getAttributeTypeMap === undefined) return [`${object.kind}: no model ${type} in @kubernetes/client-node`];
  const problems: string[] = [];
  walk(object, type, object.kind, problems);
  return problems;
}

function walk(value: unknown, type: string, path: string, problems: string[]): void {
  if (value === null || value === undefined) return;
  const list = /^Array<(.+)>$/.exec(type);
  if (list?.[1] !== undefined && Array.isArray(value)) {
    value.forEach((item, index) => walk(item, list[1]!, `${path}[${index}]`, problems));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map?.[1] !== undefined && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) walk(item, map[1], `${path}.${key}`, problems);
    return;
  }
  const attributes = models[type]?.getAttributeTypeMap?.();
  if (attributes === undefined || typeof value !== 'object') return; // a scalar, IntOrString, any: the schema checks it
  const fields = new Map(attributes.map((a) => [a.baseName, a.type]));
  for (const [key, item] of Object.entries(value)) {
    const fieldType = fields.get(key);
    if (fieldType === undefined) problems.push(`${path}.${key}: unknown field (${type} has no "${key}")`);
    else walk(item, fieldType, `${path}.${key}`, problems);
  }
}
