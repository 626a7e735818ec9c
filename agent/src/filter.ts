// BPF filter validation with libpcap, through the native addon: the operator validates a
// capture's filter with the same compiler the agent will attach it with.
import { createRequire } from 'node:module';

const LINKTYPE_ETHERNET = 1;

interface FilterBinding { compileFilter(text: string, linkType: number, snapLength: number): unknown }

let binding: FilterBinding | undefined;
function native(): FilterBinding {
  binding ??= createRequire(import.meta.url)('@ringtap/native') as FilterBinding;
  return binding;
}

/** Compiles a filter for Ethernet at this snap length; throws with libpcap's message when it is invalid. */
export function compileFilter(text: string, snapLength: number, linkType = LINKTYPE_ETHERNET): void {
  native().compileFilter(text, linkType, snapLength);
}
