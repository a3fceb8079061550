// Which files of a suite folder are tests. node --test runs a folder named on its command line as
// if it were one test file (since Node.js 21 its arguments are files or glob patterns),
// so a suite is named by a pattern that node expands itself. Helpers beside the tests (such as
// integration/indexer-harness.ts) are not *.test.* files and so are not run on their own.
import { join } from 'node:path';

/** The glob of the test files under `dir` (compiled: .js), for `node --test`. */
export const suiteFiles = (dir: string): string => join(dir, '**', '*.test.js');
