// Prints the RBAC objects, the NodeTask writers' admission policy and the parents' finalizer
// policy (YAML stream) for a namespace: node dist/hack/print-rbac.js NAMESPACE
import { stringify } from 'yaml';
import { admissionObjects, finalizerPolicyObjects, rbacObjects } from '../operator/src/rbac.js';

const ns = process.argv[2] ?? 'ringtap-system';
process.stdout.write([...rbacObjects(ns), ...admissionObjects(ns), ...finalizerPolicyObjects()].map((o) => stringify(o)).join('---\n'));
