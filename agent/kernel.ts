// Opening the real kernel collection (native/). Before anything is loaded the agent asks
// checkKernelSupport(), so a machine without root/CAP_BPF, BTF or the built addon gets one
// error that lists exactly what is missing, and the agent exits non-zero.
import { ProcflowError } from '../common/errors.js';
import { checkKernelSupport, openKernelCollector } from '../native/index.js';
import type { KernelCollector, KernelCollectorOptions } from '../native/types.js';

export function openKernel(opts: KernelCollectorOptions): KernelCollector {
  const support = checkKernelSupport();
  if (!support.ok) {
    throw new ProcflowError(
      'KERNEL_UNSUPPORTED',
      `agent: this machine cannot run the kernel collection; missing: ${support.missing.join(', ')}${support.addonError ? ` (${support.addonError})` : ''}`,
      support.hint || 'run the agent as root on a kernel with BTF (/sys/kernel/btf/vmlinux)',
    );
  }
  // openKernelCollector throws KernelSupportError / KernelLoadError (ProcflowErrors with hints).
  return openKernelCollector(opts);
}
