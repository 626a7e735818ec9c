// The one authorization rule of every target and destination, as a tenant in team-a (not a
// trusted namespace) and the platform team in netops (trusted) would meet it.
import { describe, expect, test } from '@jest/globals';
import { authorizeCapture, authorizeMirror, authorizePods, inCidr, type AccessRules } from '../../../operator/src/controllers/shared/authorize.js';

const rules: AccessRules = { trustedNamespaces: new Set(['ringtap-system', 'netops']) };
const nodes = new Set(['10.0.0.1', '10.0.0.2']);
const mirror = (destination: object, source: object = { pods: { all: true } }) => ({ source, destination }) as Parameters<typeof authorizeMirror>[2];

describe('authorizeMirror', () => {
  test.each([
    ['the node uplink as destination', mirror({ interface: { name: 'eth0' } }), 'spec.destination.interface'],
    ['another namespace\'s pod veth as destination', mirror({ interface: { name: 'veth1a2b3c4d' } }), 'spec.destination.interface'],
    ['node interfaces as sources', mirror({ pod: { name: 'col' } }, { nodes: { all: true, interfaces: ['eth0'] } }), 'spec.source.nodes'],
    ['a remote outside the cluster', mirror({ remote: { address: '198.51.100.7', protocol: 'vxlan' } }), 'spec.destination.remote.address'],
    ['a node address on port 53', mirror({ remote: { address: '10.0.0.2', protocol: 'vxlan', port: 53 } }), 'spec.destination.remote.port'],
  ])('team-a: %s is refused, naming %s', (_what, spec, field) => {
    const r = authorizeMirror(rules, 'team-a', spec, nodes);
    expect(r?.reason).toBe('UntrustedNamespace');
    expect(r?.message.startsWith(`${field}: `)).toBe(true);
  });

  test('team-a: a collector pod, or a node address on the VXLAN port, is allowed', () => {
    expect(authorizeMirror(rules, 'team-a', mirror({ pod: { name: 'col' } }), nodes)).toBeUndefined();
    expect(authorizeMirror(rules, 'team-a', mirror({ remote: { address: '10.0.0.2', protocol: 'vxlan' } }), nodes)).toBeUndefined();
    expect(authorizeMirror(rules, 'team-a', mirror({ remote: { address: '10.0.0.2', protocol: 'vxlan', port: 4789 } }), nodes)).toBeUndefined();
  });

  test('configured CIDRs and ports widen what other namespaces may reach', () => {
    const wide: AccessRules = { ...rules, remoteCidrs: ['198.51.100.0/24', '2001:db8::/32'], remotePorts: new Set([4789, 8472]) };
    expect(authorizeMirror(wide, 'team-a', mirror({ remote: { address: '198.51.100.7', protocol: 'vxlan', port: 8472 } }), nodes)).toBeUndefined();
    expect(authorizeMirror(wide, 'team-a', mirror({ remote: { address: '2001:db8::5', protocol: 'gre' } }), nodes)).toBeUndefined();
  });

  test('netops (trusted) may use node interfaces and any remote', () => {
    expect(authorizeMirror(rules, 'netops', mirror({ interface: { name: 'eth0' } }, { nodes: { all: true, interfaces: ['eth0'] } }), nodes)).toBeUndefined();
    expect(authorizeMirror(rules, 'netops', mirror({ remote: { address: '192.0.2.9', protocol: 'gre' } }), nodes)).toBeUndefined();
  });
});

describe('captures and hostNetwork pods', () => {
  test('node targets from team-a are refused; hostNetwork pods are node targets', () => {
    expect(authorizeCapture(rules, 'team-a', { targets: { nodes: { all: true } } })?.message).toMatch(/^spec\.targets\.nodes: node interfaces may be used only from a trusted namespace \(ringtap-system, netops\); namespace team-a is not one$/);
    expect(authorizeCapture(rules, 'team-a', { targets: { pods: {} } } as never)).toBeUndefined();
    const pods = [{ metadata: { name: 'web' } }, { metadata: { name: 'probe' }, spec: { hostNetwork: true } }];
    expect(authorizePods(rules, 'team-a', 'spec.targets.pods', pods)?.message).toMatch(/^spec\.targets\.pods: hostNetwork pods \(probe\)/);
    expect(authorizePods(rules, 'netops', 'spec.targets.pods', pods)).toBeUndefined();
    expect(authorizePods(rules, 'team-a', 'spec.targets.pods', pods.slice(0, 1))).toBeUndefined();
  });
});

test('inCidr', () => {
  expect(inCidr('10.1.2.3', '10.0.0.0/8')).toBe(true);
  expect(inCidr('11.1.2.3', '10.0.0.0/8')).toBe(false);
  expect(inCidr('10.1.2.3', '10.1.2.3')).toBe(true);
  expect(inCidr('2001:db8::1', '2001:db8::/32')).toBe(true);
  expect(inCidr('2001:db9::1', '2001:db8::/32')).toBe(false);
  expect(inCidr('::ffff:10.0.0.1', '::ffff:10.0.0.0/120')).toBe(true);
  expect(inCidr('10.0.0.1', '2001:db8::/32')).toBe(false);
  expect(inCidr('10.0.0.1', '10.0.0.0/33')).toBe(false);
  expect(inCidr('not-an-ip', '10.0.0.0/8')).toBe(false);
});
