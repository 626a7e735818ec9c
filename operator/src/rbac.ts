// The operator's and agents' RBAC: the one source for the Helm chart and the local cluster.
// Each rule is here because a controller named beside it needs it.
import { GROUP, PARENT_KINDS, PLURALS } from '../../crds/src/index.js';

export interface PolicyRule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

/** The parent kinds' resources, or one subresource of each. */
const parents = (sub?: string): string[] => PARENT_KINDS.map((k) => (sub ? `${PLURALS[k]}/${sub}` : PLURALS[k]));
const { PacketCapture: PC, PortMirror: PM, NodeTask: NT } = PLURALS;

export const operatorClusterRules: PolicyRule[] = [
  // PacketCapture (and the other kinds'): read specs, add/remove the finalizer, write status.
  { apiGroups: [GROUP], resources: parents(), verbs: ['get', 'list', 'watch', 'patch', 'update'] },
  { apiGroups: [GROUP], resources: parents('status'), verbs: ['get', 'patch', 'update'] },
  { apiGroups: [GROUP], resources: parents('finalizers'), verbs: ['update'] },
  // NodeTasks: the operator writes their spec; agents write their status.
  { apiGroups: [GROUP], resources: [NT], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
  // Placement reads pods and nodes.
  { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
  // Phase transitions and target churn are recorded as Events.
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
];

/** In the operator's own namespace: its leader-election Lease. */
export const operatorNamespaceRules: PolicyRule[] = [
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
];

export const agentClusterRules: PolicyRule[] = [
  // Its own node's NodeTasks (the admission policy limits status writes to its node).
  { apiGroups: [GROUP], resources: [NT], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: [`${NT}/status`], verbs: ['get', 'patch', 'update'] },
  // The agent checks every pod a NodeTask names against the API (its own node's pods only,
  // by field selector): a pod of another namespace, or on the host network, is refused.
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  // The node capability report lives on its Node object.
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // Download and stream requests are authenticated and authorized through the API server.
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** Users who may read ringtap resources and download captures (aggregated into `view`). */
export const viewRules: PolicyRule[] = [
  { apiGroups: [GROUP], resources: [...parents(), NT], verbs: ['get', 'list', 'watch'] },
  // Not a served subresource: the agents ask for it in a SubjectAccessReview before a download or stream.
  { apiGroups: [GROUP], resources: [`${PC}/download`], verbs: ['get'] },
];

/** Users who may also create and change captures and mirrors (aggregated into `edit`). */
export const editRules: PolicyRule[] = [
  { apiGroups: [GROUP], resources: [PC, PM], verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
];

/**
 * In the agents' namespace, every authenticated user may find the agent pods and reach them
 * through the API server's pod proxy: the agent itself authenticates and authorizes each
 * request (TokenReview + SubjectAccessReview on packetcaptures/download).
 */
export const agentProxyRules: PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
  { apiGroups: [''], resources: ['pods/proxy'], verbs: ['get'] },
];

/**
 * NodeTasks drive privileged code on the nodes, so RBAC alone (which cannot look inside a
 * write) is not enough: this policy lets only the operator's ServiceAccount create a NodeTask
 * or change its spec, and only the agents (or the operator) write its status. Everybody else,
 * a namespace owner with every verb on every resource of their namespace included, is denied.
 * Cluster administrators (system:masters) are exempt: they could run anything on a node anyway.
 */
export function admissionObjects(namespace: string, prefix = 'ringtap'): object[] {
  const name = `${prefix}-nodetask-writers`;
  const sa = (who: string) => `'system:serviceaccount:${namespace}:${prefix}-${who}'`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [NT, `${NT}/status`] }],
        },
        matchConditions: [{ name: 'not-cluster-admin', expression: "!(has(request.userInfo.groups) && 'system:masters' in request.userInfo.groups)" }],
        variables: [
          { name: 'operator', expression: `request.userInfo.username == ${sa('operator')}` },
          { name: 'agent', expression: `request.userInfo.username == ${sa('agent')}` },
        ],
        validations: [
          {
            expression: "request.subResource == 'status' || variables.operator || (request.operation == 'UPDATE' && object.spec == oldObject.spec)",
            reason: 'Forbidden',
            messageExpression: "'spec: only the ringtap operator writes NodeTasks (they drive privileged work on nodes); ' + request.userInfo.username + ' may not'",
          },
          {
            expression: "request.subResource != 'status' || variables.operator || variables.agent",
            reason: 'Forbidden',
            messageExpression: "'status: only ringtap agents report NodeTask status; ' + request.userInfo.username + ' may not'",
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
  ];
}

/** The RBAC objects for one installation, as the chart renders them. */
export function rbacObjects(namespace: string): object[] {
  const sa = (name: string) => ({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace } });
  const binding = (kind: 'ClusterRoleBinding' | 'RoleBinding', name: string, roleKind: string, subject: string) => ({
    apiVersion: 'rbac.authorization.k8s.io/v1', kind,
    metadata: kind === 'RoleBinding' ? { name, namespace } : { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name },
    subjects: [{ kind: 'ServiceAccount', name: subject, namespace }],
  });
  return [
    sa('ringtap-operator'),
    sa('ringtap-agent'),
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'ringtap-operator' }, rules: operatorClusterRules },
    binding('ClusterRoleBinding', 'ringtap-operator', 'ClusterRole', 'ringtap-operator'),
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'ringtap-operator', namespace }, rules: operatorNamespaceRules },
    binding('RoleBinding', 'ringtap-operator', 'Role', 'ringtap-operator'),
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'ringtap-agent' }, rules: agentClusterRules },
    binding('ClusterRoleBinding', 'ringtap-agent', 'ClusterRole', 'ringtap-agent'),
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
      metadata: { name: 'ringtap-view', labels: { 'rbac.authorization.k8s.io/aggregate-to-view': 'true', 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } },
      rules: viewRules,
    },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole',
      metadata: { name: 'ringtap-edit', labels: { 'rbac.authorization.k8s.io/aggregate-to-edit': 'true', 'rbac.authorization.k8s.io/aggregate-to-admin': 'true' } },
      rules: editRules,
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'ringtap-agent-proxy', namespace }, rules: agentProxyRules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'ringtap-agent-proxy', namespace },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'ringtap-agent-proxy' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
    },
  ];
}
