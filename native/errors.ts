// Errors of the kernel collector. Every message starts with the subsystem; `hint` says what
// is needed (privileges, BTF, a build step).
import { ProcflowError } from '../common/errors.js';

export class KernelSupportError extends ProcflowError {
  /** Each missing piece, one short phrase each (e.g. "root or CAP_BPF+CAP_PERFMON"). */
  readonly missing: string[];

  constructor(message: string, hint: string, missing: string[], options?: { cause?: unknown }) {
    super('KERNEL_UNSUPPORTED', `kernel collector: ${message}`, hint, options);
    this.name = 'KernelSupportError';
    this.missing = missing;
  }
}

export class KernelLoadError extends ProcflowError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('KERNEL_LOAD_FAILED', message.startsWith('kernel collector:') ? message : `kernel collector: ${message}`,
      'run with PROCFLOW_LIBBPF_DEBUG=1 for libbpf\'s full log', options);
    this.name = 'KernelLoadError';
  }
}
