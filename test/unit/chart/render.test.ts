// The chart rendered with helm template for the values that matter, asserted on the objects.
import { describe, expect, test } from '@jest/globals';
import { rbacObjects } from '../../../operator/src/rbac.js';
import { find, render, type K8sObject } from './helm.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- rendered manifests are walked as plain JSON */
const podSpec = (o: K8sObject): any => (o as any).spec.template.spec;
const container = (o: K8sObject): any => podSpec(o).containers[0];
const envOf = (o: K8sObject): Record<string, any> =>
  Object.fromEntries((container(o).env as any[]).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('default values', () => {
  let objects: K8sObject[];
  const ns = 'ringtap-system';
  test('render', async () => {
    objects = await render();
    expect(objects.length).toBeGreaterThan(10);
  });

  test('every namespaced object lands in the release namespace; no ServiceMonitor by default', () => {
    const clusterScoped = new Set(['ClusterRole', 'ClusterRoleBinding', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'APIService']);
    for (const o of objects) {
      if (clusterScoped.has(o.kind)) expect(o.metadata.namespace).toBeUndefined();
      // Reading the front proxy's CA (data API) is granted where the API server keeps it.
      else if (o.kind === 'RoleBinding' && o.metadata.name === 'ringtap-operator-auth-reader') expect(o.metadata.namespace).toBe('kube-system');
      else expect(`${o.kind}/${o.metadata.name} ${o.metadata.namespace}`).toBe(`${o.kind}/${o.metadata.name} ${ns}`);
    }
    expect(objects.map((o) => o.kind)).not.toContain('ServiceMonitor');
  });

  test('the RBAC objects are exactly those of operator/src/rbac.ts', () => {
    const rbacKinds = new Set(['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding']);
    // helm orders objects by kind; compare as sets.
    const key = (o: K8sObject) => `${o.kind}/${o.metadata.name}`;
    const sorted = (l: K8sObject[]) => [...l].sort((a, b) => key(a).localeCompare(key(b)));
    expect(sorted(objects.filter((o) => rbacKinds.has(o.kind)))).toEqual(sorted(rbacObjects(ns) as K8sObject[]));
  });

  test('operator: 2 leader-elected replicas, probes, resources, locked-down container', () => {
    const d = find(objects, 'Deployment', 'ringtap-operator') as any;
    expect(d.spec.replicas).toBe(2);
    const c = container(d);
    expect(c.args[0]).toBe('operator');
    expect(c.args).toEqual(expect.arrayContaining(['--leader-elect=true', `--trusted-namespaces=${ns}`, '--metrics-bind-address=0.0.0.0:8080', '--lease-name=ringtap-operator']));
    expect(envOf(d).RINGTAP_NAMESPACE).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    expect(envOf(d).POD_NAME).toEqual({ fieldRef: { fieldPath: 'metadata.name' } });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    // /readyz is leader-only: the standby replica must still count as ready (see the template).
    expect(c.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(c.resources.requests).toEqual({ cpu: '100m', memory: '256Mi' });
    expect(c.resources.limits.memory).toBe('512Mi');
    expect(podSpec(d).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 65532 });
    expect(c.securityContext).toEqual({
      allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, privileged: false, capabilities: { drop: ['ALL'] },
    });
    expect(podSpec(d).serviceAccountName).toBe('ringtap-operator');
    expect(podSpec(d).hostNetwork).toBeUndefined();
    expect(c.image).toBe('ghcr.io/ringtap/ringtap:0.1.0');
  });

  test('agent: host network and PIDs, NODE_NAME from spec.nodeName, three capabilities, two hostPaths', () => {
    const ds = find(objects, 'DaemonSet', 'ringtap-agent') as any;
    const spec = podSpec(ds);
    expect(spec.hostNetwork).toBe(true);
    expect(spec.hostPID).toBe(true);
    expect(spec.serviceAccountName).toBe('ringtap-agent');
    const c = container(ds);
    expect(c.args).toEqual(['agent']);
    expect(envOf(ds).NODE_NAME).toEqual({ fieldRef: { fieldPath: 'spec.nodeName' } });
    expect(envOf(ds).RINGTAP_DATA_DIR).toBe('/var/lib/ringtap');
    expect(envOf(ds).RINGTAP_METRICS_ADDR).toBe('$(POD_IP):9090');
    expect(envOf(ds).RINGTAP_TLS_CERT_FILE).toBeUndefined();
    expect(c.securityContext).toMatchObject({ runAsUser: 0, privileged: false, readOnlyRootFilesystem: true });
    expect(c.securityContext.allowPrivilegeEscalation).toBe(false);
    expect(c.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['NET_RAW', 'NET_ADMIN', 'SYS_ADMIN'] });
    const hostPaths = (spec.volumes as any[]).filter((v) => v.hostPath).map((v) => v.hostPath.path).sort();
    expect(hostPaths).toEqual(['/run/netns', '/var/lib/ringtap']);
    expect(ds.spec.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } });
    expect(spec.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    // The CLI finds agents by this label and reaches them on the port named https.
    expect(ds.spec.selector.matchLabels['app.kubernetes.io/name']).toBe('ringtap-agent');
    expect(c.ports).toEqual(expect.arrayContaining([{ name: 'https', containerPort: 9443, protocol: 'TCP' }]));
    expect(c.readinessProbe.httpGet.path).toBe('/readyz');
  });

  test('admission policy: binds to the agent ServiceAccount of this release, denies', () => {
    const vap = find(objects, 'ValidatingAdmissionPolicy', 'ringtap-agent-own-node') as any;
    expect(vap.spec.failurePolicy).toBe('Fail');
    expect(vap.spec.matchConditions[0].expression).toBe(`request.userInfo.username == 'system:serviceaccount:${ns}:ringtap-agent'`);
    expect(vap.spec.matchConstraints.resourceRules[0].resources).toEqual(['nodetasks', 'nodetasks/status']);
    const b = find(objects, 'ValidatingAdmissionPolicyBinding', 'ringtap-agent-own-node') as any;
    expect(b.spec).toEqual({ policyName: 'ringtap-agent-own-node', validationActions: ['Deny'] });
  });

  test('metrics Services select the operator and the agents by port name', () => {
    const op = find(objects, 'Service', 'ringtap-operator-metrics') as any;
    expect(op.spec.selector).toEqual({ 'app.kubernetes.io/name': 'ringtap-operator', 'app.kubernetes.io/instance': 'ringtap' });
    expect(op.spec.ports).toEqual([{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
    const ag = find(objects, 'Service', 'ringtap-agent-metrics') as any;
    expect(ag.spec.clusterIP).toBe('None');
    expect(ag.spec.selector['app.kubernetes.io/name']).toBe('ringtap-agent');
  });
});

describe('values', () => {
  test('operator replicas, log level, trusted namespaces; a single replica without leader election uses /readyz', async () => {
    const objects = await render({ 'operator.replicas': 1, 'operator.leaderElect': false, 'operator.trustedNamespaces': ['ops', 'net'], 'operator.logLevel': 'debug' });
    const d = find(objects, 'Deployment', 'ringtap-operator') as any;
    expect(d.spec.replicas).toBe(1);
    expect(container(d).args).toEqual(expect.arrayContaining(['--leader-elect=false', '--trusted-namespaces=ops,net']));
    expect(container(d).readinessProbe.httpGet.path).toBe('/readyz');
    expect(envOf(d).RINGTAP_LOG_LEVEL).toBe('debug');
  });

  test('agent data dir, TLS secret, extra capability, scheduling and update strategy', async () => {
    const objects = await render({
      'agent.dataDir': '/data/ringtap', 'agent.tlsSecretName': 'agent-tls', 'agent.extraCapabilities': ['SYS_PTRACE'],
      'agent.nodeSelector': { 'ringtap.dev/capture': 'true' }, 'agent.tolerations': [{ key: 'dedicated', operator: 'Equal', value: 'net', effect: 'NoSchedule' }],
      'agent.updateStrategy.maxUnavailable': '10%',
    });
    const ds = find(objects, 'DaemonSet', 'ringtap-agent') as any;
    const spec = podSpec(ds);
    expect(envOf(ds).RINGTAP_DATA_DIR).toBe('/data/ringtap');
    expect(envOf(ds).RINGTAP_TLS_CERT_FILE).toBe('/etc/ringtap/tls/tls.crt');
    expect((spec.volumes as any[]).find((v) => v.name === 'data').hostPath).toEqual({ path: '/data/ringtap', type: 'DirectoryOrCreate' });
    expect((spec.volumes as any[]).find((v) => v.name === 'tls').secret).toEqual({ secretName: 'agent-tls' });
    expect(container(ds).securityContext.capabilities.add).toEqual(['NET_RAW', 'NET_ADMIN', 'SYS_ADMIN', 'SYS_PTRACE']);
    // Helm merges maps: the default kubernetes.io/os stays unless set to null.
    expect(spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux', 'ringtap.dev/capture': 'true' });
    expect(spec.tolerations).toEqual([{ key: 'dedicated', operator: 'Equal', value: 'net', effect: 'NoSchedule' }]);
    expect(ds.spec.updateStrategy.rollingUpdate.maxUnavailable).toBe('10%');
  });

  test('image tag and pull policy', async () => {
    const objects = await render({ 'image.repository': 'registry.example/rt', 'image.tag': 'dev', 'image.pullPolicy': 'Never' });
    for (const kind of ['Deployment', 'DaemonSet']) {
      const c = container(objects.find((o) => o.kind === kind)!);
      expect([c.image, c.imagePullPolicy]).toEqual(['registry.example/rt:dev', 'Never']);
    }
  });

  test('ServiceMonitor on, admission policy and metrics Services off', async () => {
    const withSm = await render({ 'metrics.serviceMonitor.enabled': true, 'metrics.serviceMonitor.labels': { release: 'prom' } });
    const sm = find(withSm, 'ServiceMonitor', 'ringtap') as any;
    expect(sm.metadata.labels.release).toBe('prom');
    expect(sm.spec.endpoints[0]).toMatchObject({ port: 'metrics', interval: '30s' });
    const off = await render({ 'admissionPolicy.enabled': false, 'metrics.service.enabled': false });
    expect(off.map((o) => o.kind)).not.toEqual(expect.arrayContaining(['ValidatingAdmissionPolicy']));
    expect(off.filter((o) => o.kind === 'Service').map((o) => o.metadata.name)).toEqual(['ringtap-data-api']);
    await expect(render({ 'metrics.service.enabled': false, 'metrics.serviceMonitor.enabled': true })).rejects.toThrow('needs metrics.service.enabled');
  });

  test('finalizer policy: only where the cluster serves MutatingAdmissionPolicy v1 (1.36 on)', async () => {
    const map = 'admissionregistration.k8s.io/v1/MutatingAdmissionPolicy';
    const old = await render();
    expect(old.map((o) => o.kind)).not.toContain('MutatingAdmissionPolicy');
    const objects = await render({}, { extra: ['--api-versions', map] });
    const policy = find(objects, 'MutatingAdmissionPolicy', 'ringtap-finalizer') as any;
    expect(policy.metadata.namespace).toBeUndefined();
    expect(policy.spec.failurePolicy).toBe('Ignore');
    expect(policy.spec.matchConstraints.resourceRules).toEqual([{ apiGroups: ['ringtap.dev'], apiVersions: ['*'], operations: ['CREATE'], resources: ['packetcaptures', 'portmirrors', 'pppbridges', 'ipamonitors'] }]);
    expect(policy.spec.mutations[0].patchType).toBe('JSONPatch');
    expect(policy.spec.mutations[0].jsonPatch.expression).toContain('value: ["ringtap.dev/cleanup"]');
    expect((find(objects, 'MutatingAdmissionPolicyBinding', 'ringtap-finalizer') as any).spec.policyName).toBe('ringtap-finalizer');
    const off = await render({ 'admissionPolicy.enabled': false }, { extra: ['--api-versions', map] });
    expect(off.map((o) => o.kind)).not.toContain('MutatingAdmissionPolicy');
    const renamed = await render({ fullnameOverride: 'rt2' }, { extra: ['--api-versions', map] });
    expect((find(renamed, 'MutatingAdmissionPolicyBinding', 'rt2-finalizer') as any).spec.policyName).toBe('rt2-finalizer');
  });

  test('fullnameOverride renames every object, cluster-scoped ones and references included', async () => {
    const objects = await render({ fullnameOverride: 'rt2' }, { namespace: 'other' });
    // The APIService's name is the API's own (version.group).
    for (const o of objects) if (o.kind !== 'APIService') expect(o.metadata.name).toMatch(/^rt2(-|$)/);
    const crb = find(objects, 'ClusterRoleBinding', 'rt2-agent') as any;
    expect(crb.roleRef.name).toBe('rt2-agent');
    expect(crb.subjects).toEqual([{ kind: 'ServiceAccount', name: 'rt2-agent', namespace: 'other' }]);
    expect(podSpec(find(objects, 'DaemonSet', 'rt2-agent')).serviceAccountName).toBe('rt2-agent');
    const vap = find(objects, 'ValidatingAdmissionPolicy', 'rt2-agent-own-node') as any;
    expect(vap.spec.matchConditions[0].expression).toContain("'system:serviceaccount:other:rt2-agent'");
    // The system:authenticated group keeps its name.
    expect((find(objects, 'ClusterRoleBinding', 'rt2-data-api') as any).subjects[0].name).toBe('system:authenticated');
    // A resourceName that names one of ours follows the prefix too.
    expect((find(objects, 'Role', 'rt2-operator') as any).rules.find((r: any) => r.resources.includes('serviceaccounts/token')).resourceNames).toEqual(['rt2-operator']);
  });
});
