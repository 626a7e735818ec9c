// The operator's and agents' RBAC: the one source for the Helm chart and the local cluster.
// Each rule is here because a controller named beside it needs it.
import { FINALIZER, GROUP, PARENT_KINDS, PLURALS } from '../../crds/src/index.js';
import { DATA_GROUP, DATA_KINDS, DATA_SUBRESOURCES } from '../../crds/src/dataapi.js';

export interface PolicyRule { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }

/** The parent kinds' resources, or one subresource of each. */
const parents = (sub?: string): string[] => PARENT_KINDS.map((k) => (sub ? `${PLURALS[k]}/${sub}` : PLURALS[k]));
const { PacketCapture: PC, PortMirror: PM, NodeTask: NT } = PLURALS;

export const operatorClusterRules: PolicyRule[] = [
  // PacketCapture (and the other kinds'): read specs, add/remove the finalizer, write status.
  { apiGroups: [GROUP], resources: parents(), verbs: ['get', 'list', 'watch', 'patch', 'update'] },
  { apiGroups: [GROUP], resources: parents('status'), verbs: ['get', 'patch', 'update'] },
  { apiGroups: [GROUP], resources: parents('finalizers'), verbs: ['update'] },
  // Placement reads pods and nodes.
  { apiGroups: [''], resources: ['pods', 'nodes'], verbs: ['get', 'list', 'watch'] },
  // Phase transitions and target churn are recorded as Events.
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // The data API (operator/src/dataapi) authorizes each user's request with a SubjectAccessReview.
  { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
];

/** In the operator's own namespace: every NodeTask, its leader-election Lease, and its tokens for the agents. */
export const operatorNamespaceRules: PolicyRule[] = [
  // NodeTasks live only here (docs/adr/0012-nodetasks-in-the-operator-namespace.md): the
  // operator writes their spec, deletes them after a parent's cleanup and when their parent is
  // gone (controllers/shared/orphans.ts); agents write their status.
  { apiGroups: [GROUP], resources: [NT], verbs: ['get', 'list', 'watch', 'create', 'patch', 'update', 'delete'] },
  { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] },
  // The data API reads the agents with tokens of its own ServiceAccount, one audience per node.
  { apiGroups: [''], resources: ['serviceaccounts/token'], verbs: ['create'], resourceNames: ['ringtap-operator'] },
];

export const agentClusterRules: PolicyRule[] = [
  // The agent checks every pod a NodeTask names against the API (its own node's pods only,
  // by field selector): a pod of another namespace, or on the host network, is refused.
  { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
  // The node capability report lives on its Node object.
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'patch'] },
  { apiGroups: ['events.k8s.io'], resources: ['events'], verbs: ['create', 'patch'] },
  // Its download server serves the operator only, whose token it checks with a TokenReview.
  { apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] },
];

/**
 * In the agents' namespace, which is the operator's: the NodeTasks, which live only here, and
 * their own DaemonSet, by name.
 */
export const agentNamespaceRules: PolicyRule[] = [
  // Its own node's NodeTasks (the agent watches with fieldSelector spec.node; the admission
  // policy limits status writes to its node). No other namespace's: a NodeTask written
  // anywhere else is never seen by any agent.
  { apiGroups: [GROUP], resources: [NT], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: [`${NT}/status`], verbs: ['get', 'patch', 'update'] },
  // At SIGTERM an agent tells an uninstall (the DaemonSet gone or being deleted) from a
  // restart, and removes the mirrors' kernel state only then (agent/src/runner/uninstall.ts).
  // It watches it (list and watch with a metadata.name field selector are allowed by
  // resourceNames) because the uninstall deletes this Role's binding too, often before the
  // agent's pod is stopped.
  { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get', 'list', 'watch'], resourceNames: ['ringtap-agent'] },
];

/**
 * Users who may read ringtap resources and download captures (aggregated into `view`). Not
 * NodeTasks: they live in the operator's namespace, mixing every namespace's, and a parent's
 * status says what its nodes report.
 */
export const viewRules: PolicyRule[] = [
  { apiGroups: [GROUP], resources: parents(), verbs: ['get', 'list', 'watch'] },
  // Not a served subresource: the data API asks for it in a SubjectAccessReview before a download or stream.
  { apiGroups: [GROUP], resources: [`${PC}/download`, `${PLURALS.IPAMonitor}/download`], verbs: ['get'] },
];

/** Users who may also create and change captures and mirrors (aggregated into `edit`). */
export const editRules: PolicyRule[] = [
  { apiGroups: [GROUP], resources: [PC, PM], verbs: ['create', 'update', 'patch', 'delete', 'deletecollection'] },
];

/**
 * The data API's paths, open to every authenticated user at the API server: the operator
 * authorizes each request itself (a SubjectAccessReview on <kind>/download, above), so the rule
 * that grants downloads stays the one it always was. `watch` is the long-running form of the
 * same GET (docs/adr/0008-data-api.md).
 */
export const dataApiRules: PolicyRule[] = [
  { apiGroups: [DATA_GROUP], resources: Object.values(DATA_KINDS).flatMap((k) => DATA_SUBRESOURCES.map((sub) => `${k.plural}/${sub}`)), verbs: ['get', 'watch'] },
];

/**
 * NodeTasks drive privileged code on the nodes, so RBAC alone (which cannot look inside a
 * write) is not enough: this policy lets only the operator's ServiceAccount create a NodeTask
 * or change its spec, only in the operator's namespace, and only the agents (or the operator)
 * write its status. Everybody else, a namespace owner with every verb on every resource of
 * their namespace included, is denied. Cluster administrators (system:masters) are exempt:
 * they could run anything on a node anyway.
 */
const notClusterAdmin = { name: 'not-cluster-admin', expression: "!(has(request.userInfo.groups) && 'system:masters' in request.userInfo.groups)" };

export function admissionObjects(namespace: string, prefix = 'ringtap', agentPort: number | string = 9443): object[] {
  const name = `${prefix}-nodetask-writers`;
  const proxy = `${prefix}-agent-proxy-port`;
  const ownNode = `${prefix}-agent-own-node`;
  const sa = (who: string) => `'system:serviceaccount:${namespace}:${prefix}-${who}'`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [{ apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE'], resources: [NT, `${NT}/status`] }],
        },
        matchConditions: [notClusterAdmin],
        variables: [
          // subResource is absent, not empty, on a write of the object itself.
          { name: 'status', expression: "has(request.subResource) && request.subResource == 'status'" },
          { name: 'operator', expression: `request.userInfo.username == ${sa('operator')}` },
          { name: 'agent', expression: `request.userInfo.username == ${sa('agent')}` },
        ],
        validations: [
          {
            expression: "variables.status || variables.operator || (request.operation == 'UPDATE' && object.spec == oldObject.spec)",
            reason: 'Forbidden',
            messageExpression: "'spec: only the ringtap operator writes NodeTasks (they drive privileged work on nodes); ' + request.userInfo.username + ' may not'",
          },
          {
            expression: "!variables.status || variables.operator || variables.agent",
            reason: 'Forbidden',
            messageExpression: "'status: only ringtap agents report NodeTask status; ' + request.userInfo.username + ' may not'",
          },
          {
            // Agents watch only this namespace: a NodeTask anywhere else would do nothing but mislead.
            expression: `request.operation != 'CREATE' || request.namespace == '${namespace}'`,
            reason: 'Forbidden',
            messageExpression: `'metadata.namespace: NodeTasks live only in the ringtap operator\\'s namespace ${namespace}, not ' + request.namespace`,
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name },
      spec: { policyName: name, validationActions: ['Deny'] },
    },
    // The chart grants nobody pods/proxy here (downloads go through the data API). The agents
    // run on the host network, so a grant added later (a namespace admin's RoleBinding) would
    // reach every port of every node through them: this keeps it to the agents' server port.
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: proxy },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
          resourceRules: [{ apiGroups: [''], apiVersions: ['*'], operations: ['CONNECT'], resources: ['pods/proxy'] }],
        },
        matchConditions: [notClusterAdmin],
        validations: [{
          expression: `request.name.matches('^https:[a-z0-9]([-a-z0-9.]*[a-z0-9])?:${agentPort}$')`,
          reason: 'Forbidden',
          messageExpression: `'pods/proxy in ${namespace} reaches only the HTTPS port of the ringtap agents (https:<pod>:${agentPort}), not ' + request.name`,
        }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: proxy },
      spec: { policyName: proxy, validationActions: ['Deny'] },
    },
    // RBAC cannot say "only your own node": it grants an agent the status of every NodeTask and
    // every Node. This narrows that to the node named in the agent's token. A token the kubelet
    // requests for a pod on a node, or one bound to a Node object (hack/cluster's process
    // agents), carries the node's name in the user's extra authentication.kubernetes.io/node-name;
    // a token without it may write nothing.
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicy', metadata: { name: ownNode },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            { apiGroups: [GROUP], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: [NT, `${NT}/status`] },
            { apiGroups: [''], apiVersions: ['*'], operations: ['CREATE', 'UPDATE', 'DELETE'], resources: ['nodes', 'nodes/status'] },
          ],
        },
        matchConditions: [{ name: 'is-agent', expression: `request.userInfo.username == ${sa('agent')}` }],
        variables: [
          {
            name: 'tokenNode',
            expression: "'authentication.kubernetes.io/node-name' in request.userInfo.extra && size(request.userInfo.extra['authentication.kubernetes.io/node-name']) > 0 ? request.userInfo.extra['authentication.kubernetes.io/node-name'][0] : ''",
          },
          { name: 'target', expression: 'object != null ? object : oldObject' },
          {
            name: 'targetNode',
            expression: "request.resource.resource == 'nodes' ? variables.target.metadata.name : (has(variables.target.spec) && has(variables.target.spec.node) ? variables.target.spec.node : '')",
          },
        ],
        validations: [
          {
            expression: "variables.tokenNode != ''",
            reason: 'Forbidden',
            message: "a ringtap agent's token must be bound to a pod on a node, or to a node (it carries no node name)",
          },
          {
            expression: 'variables.targetNode == variables.tokenNode',
            reason: 'Forbidden',
            messageExpression: "'the ringtap agent of node ' + variables.tokenNode + ' may write only its own node\\'s objects, not those of node ' + variables.targetNode",
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingAdmissionPolicyBinding', metadata: { name: ownNode },
      spec: { policyName: ownNode, validationActions: ['Deny'] },
    },
  ];
}

/**
 * The parents' finalizer, set by the API server as a parent is created: without it every new
 * PacketCapture, PortMirror, PPPBridge and IPAMonitor costs a second write, the operator's
 * finalizer patch, which costs the API server about twice the create itself
 * (docs/adr/0010-operator-scale.md). A MutatingAdmissionPolicy (admissionregistration.k8s.io/v1,
 * served from Kubernetes 1.36 on without flags) merges the finalizer into the object; the
 * operator still adds it when it is missing (an older cluster, or a policy that failed: Ignore),
 * so the behaviour is the same either way. Admission changes are owned by no field manager, so
 * a user's later apply without the finalizer does not remove it.
 * group: the API group matched (the operator benchmark binds the same policy to its copy of the
 * PacketCapture kind, so that its ceiling pays what a user's create pays).
 */
export function finalizerPolicyObjects(prefix = 'ringtap', group = GROUP): object[] {
  const name = `${prefix}-finalizer`;
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingAdmissionPolicy', metadata: { name },
      spec: {
        failurePolicy: 'Ignore',
        reinvocationPolicy: 'Never',
        matchConstraints: {
          resourceRules: [{ apiGroups: [group], apiVersions: ['*'], operations: ['CREATE'], resources: parents() }],
        },
        // A JSON patch, not an ApplyConfiguration: the typed merge of an ApplyConfiguration needs
        // the CRD's schema in the API server's type resolver, which lags a new CRD, and until it
        // catches up every create fails with 503 "Resource kind ... not found" (failurePolicy
        // Ignore does not cover it): seen on the first PacketCapture after an install. Ours is
        // added unless it is there; the others are kept.
        mutations: [{
          patchType: 'JSONPatch',
          jsonPatch: {
            expression: `!has(object.metadata.finalizers) ? [JSONPatch{op: "add", path: "/metadata/finalizers", value: ["${FINALIZER}"]}]`
              + ` : (object.metadata.finalizers.exists(f, f == "${FINALIZER}") ? []`
              + ` : [JSONPatch{op: "add", path: "/metadata/finalizers/-", value: "${FINALIZER}"}])`,
          },
        }],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingAdmissionPolicyBinding', metadata: { name },
      spec: { policyName: name },
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
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'ringtap-agent', namespace }, rules: agentNamespaceRules },
    binding('RoleBinding', 'ringtap-agent', 'Role', 'ringtap-agent'),
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
    // The front proxy's request-header CA and allowed names (data API authentication).
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'ringtap-operator-auth-reader', namespace: 'kube-system' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'extension-apiserver-authentication-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'ringtap-operator', namespace }],
    },
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'ringtap-data-api' }, rules: dataApiRules },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'ringtap-data-api' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'ringtap-data-api' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
    },
  ];
}
