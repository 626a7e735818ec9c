// Prints the RBAC objects and the NodeTask writers' admission policy (YAML stream) for a namespace: node dist/hack/print-rbac.js NAMESPACE
import { stringify } from 'yaml';
import { admissionObjects, rbacObjects } from '../operator/src/rbac.js';

const ns = process.argv[2] ?? 'ringtap-system';
process.stdout.write([...rbacObjects(ns), ...admissionObjects(ns)].map((o) => stringify(o)).join('---\n'));
