// Errors of the BTF reader and the layout generator. Messages start with the subsystem; `hint`
// says what to do (rebuild the object, regenerate the layout, fix the header).
import { ProcflowError } from '../../common/errors.js';

export type BtfErrorCode =
  | 'BTF_NOT_ELF' // the file is not an ELF64 little-endian object
  | 'BTF_NO_SECTION' // the object has no .BTF section
  | 'BTF_CORRUPT' // a header, offset or length points outside its section
  | 'BTF_NO_TYPE' // a named type is not in the BTF
  | 'BTF_UNSUPPORTED'; // a construct the decoder cannot read (bitfields, unknown kinds)

/** The object or its BTF cannot be read as the layout needs. */
export class BtfError extends ProcflowError {
  declare readonly code: BtfErrorCode;

  constructor(code: BtfErrorCode, source: string, message: string, hint: string) {
    super(code, `btf: ${source}: ${message}`, hint);
    this.name = 'BtfError';
  }
}

export type LayoutErrorCode =
  | 'LAYOUT_NO_OBJECT' // the BPF object is not built
  | 'LAYOUT_STALE_OBJECT' // bpf/ sources are newer than the object
  | 'LAYOUT_OUT_OF_DATE'; // the committed native/layout.generated.ts differs from the object

/** The generated layout cannot be produced or checked. */
export class LayoutError extends ProcflowError {
  declare readonly code: LayoutErrorCode;

  constructor(code: LayoutErrorCode, message: string, hint: string) {
    super(code, `gen:layout: ${message}`, hint);
    this.name = 'LayoutError';
  }
}
