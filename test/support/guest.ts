// The guest jest project (test/guest/**) runs inside a qemu guest under a stock Debian kernel
// (hack/jest-guest.sh -> hack/guest), for kernel paths this host lacks. hack/guest sets
// RINGTAP_GUEST to the guest's kernel release; where no guest can be had, hack/jest-guest.sh runs
// the project on the host with RINGTAP_GUEST_SKIP=<why>, and the tests skip saying so.
import { describe } from '@jest/globals';

/** The guest kernel's release (uname -r), or undefined outside a guest. */
export const GUEST_KERNEL = process.env.RINGTAP_GUEST;
const SKIP = process.env.RINGTAP_GUEST_SKIP;

if (!GUEST_KERNEL && !SKIP) {
  throw new Error('the guest tests run inside a qemu guest: run them with hack/jest-guest.sh, not hack/jest.sh');
}

/** `describe`, or a skip naming why no guest could be had. */
export function describeInGuest(name: string, fn: () => void): void {
  if (SKIP) {
    console.log(`skipped: ${SKIP}; ${name} does not run`);
    describe.skip(name, fn);
    return;
  }
  describe(name, fn);
}

/** Under TCG every step is slow (scapy's import alone takes 3-6 s): a floor for every timeout. */
export const GUEST_TIMEOUT_MS = 60_000;
