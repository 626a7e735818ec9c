import { describe, expect, test } from '@jest/globals';
import { capabilitiesFrom, capabilityLabels } from '../../../agent/src/node/capabilities.js';

const base = { kernelRelease: '6.18.44', protocols: ['PACKET', 'XDP', 'UDP', 'TCP'], devPpp: false, ipaDevices: [] as string[] };

describe('capabilitiesFrom', () => {
  test("a kernel like this machine's: rings, tc and VXLAN; no PPP, no GRE, no IPA", () => {
    const c = capabilitiesFrom({ ...base, config: 'CONFIG_PACKET=y\nCONFIG_XDP_SOCKETS=y\nCONFIG_NET_SCH_INGRESS=y\nCONFIG_NET_ACT_MIRRED=y\nCONFIG_NET_CLS_BPF=y\nCONFIG_VXLAN=y\n' });
    expect(c.tpacketV3.available).toBe(true);
    expect(c.tcMirror.available).toBe(true);
    expect(c.vxlan.available).toBe(true);
    expect(c.pppKernelBridge).toEqual({ available: false, reason: 'kernel lacks PPP (CONFIG_PPP, CONFIG_PPPOE, CONFIG_PPPOL2TP)' });
    expect(c.gre.reason).toBe('kernel lacks GRE (CONFIG_NET_IPGRE)');
    expect(c.ipa.available).toBe(false);
    expect(c.hardwareTimestamps.available).toBe(false);
    expect(capabilityLabels(c)).toMatchObject({ 'ringtap.dev/tpacket-v3': 'true', 'ringtap.dev/ppp-kernel-bridge': 'false', 'ringtap.dev/gre': 'false' });
    // No IPA: a stale version label from earlier hardware is removed (null in the merge patch).
    expect(capabilityLabels(c)['ringtap.dev/ipa-version']).toBeNull();
  });

  test('PPP bridging needs the modules, /dev/ppp and a kernel of 5.11 or later', () => {
    const config = 'CONFIG_PPP=m\nCONFIG_PPPOE=m\nCONFIG_PPPOL2TP=m\n';
    expect(capabilitiesFrom({ ...base, config, devPpp: true }).pppKernelBridge).toEqual({ available: true });
    expect(capabilitiesFrom({ ...base, config, devPpp: false }).pppKernelBridge.reason).toMatch(/\/dev\/ppp is missing/);
    expect(capabilitiesFrom({ ...base, config, devPpp: true, kernelRelease: '5.10.0' }).pppKernelBridge.reason).toMatch(/predates PPPIOCBRIDGECHAN/);
  });

  test('without a kernel configuration it says it cannot tell, instead of guessing', () => {
    const c = capabilitiesFrom({ ...base });
    expect(c.vxlan.available).toBe(false);
    expect(c.vxlan.reason).toMatch(/^cannot tell/);
    expect(c.tpacketV3.available).toBe(true); // from /proc/net/protocols
  });

  test('IPA hardware and PTP clocks are reported with what was found', () => {
    const c = capabilitiesFrom({ ...base, ipaDevices: ['/dev/qcom_ipa0_monitor'], ipaSources: ['device'], ipaVersion: '4.9', ptpClocks: ['ptp0'] });
    expect(c.ipa).toEqual({ available: true, version: '4.9', devices: ['/dev/qcom_ipa0_monitor'], sources: ['device', 'netdev'] });
    expect(c.hardwareTimestamps).toEqual({ available: true, clocks: ['ptp0'] });
  });
});
