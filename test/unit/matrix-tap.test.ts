// The kernel matrix's TAP summary: counts, not-applicable reasons, and failures that carry
// their error, since CI shows only the summary of a guest's run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseTap } from '../matrix/tap.js';

const TAP = `TAP version 13
# Subtest: agent
    # Subtest: exact bytes
    ok 1 - exact bytes
      ---
      duration_ms: 12
      ...
    # Subtest: an outage
    not ok 2 - an outage
      ---
      duration_ms: 45072
      failureType: 'testCodeFailure'
      error: |-
        exactly once
        
        16666 !== 11111
        
      code: 'ERR_ASSERTION'
      expected: 11111
      actual: 16666
      stack: |-
        at somewhere
      ...
    # Subtest: fentry
    ok 3 - fentry # SKIP not applicable: fentry is refused by this kernel
      ---
      duration_ms: 1
      ...
    1..3
not ok 1 - agent
  ---
  duration_ms: 45100
  type: 'suite'
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  ...
# Subtest: hooks
not ok 2 - hooks
  ---
  duration_ms: 3
  type: 'suite'
  failureType: 'hookFailed'
  error: 'the cluster did not start'
  ...
`;

test('a failure names its test and carries its error, expected and actual; a failed hook its own error', () => {
  const s = parseTap(TAP);
  assert.deepEqual([s.passed, s.failed, s.notApplicable, s.skipped], [1, 2, 1, 0]);
  assert.deepEqual(s.failures, [
    'agent > an outage\nerror: exactly once\n16666 !== 11111\nexpected: 11111\nactual: 16666',
    "hooks (hookFailed)\nerror: 'the cluster did not start'",
  ]);
  assert.deepEqual(s.notApplicableReasons, ['not applicable: fentry is refused by this kernel']);
});
