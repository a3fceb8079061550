// The kernel matrix's one error type: what failed (fetching a kernel, building an initramfs,
// booting a guest) and what to do about it.
import { ProcflowError } from '../../common/errors.js';

export class MatrixError extends ProcflowError {
  constructor(message: string, hint?: string, options?: { cause?: unknown }) {
    super('KERNEL_MATRIX', `kernel matrix: ${message}`, hint, options);
    this.name = 'MatrixError';
  }
}
