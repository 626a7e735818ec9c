// Prints the RBAC objects (YAML stream) for a namespace: node dist/hack/print-rbac.js NAMESPACE
import { stringify } from 'yaml';
import { rbacObjects } from '../operator/src/rbac.js';

const ns = process.argv[2] ?? 'ringtap-system';
process.stdout.write(rbacObjects(ns).map((o) => stringify(o)).join('---\n'));
