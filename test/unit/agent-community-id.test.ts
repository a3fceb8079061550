import { test } from 'node:test';
import assert from 'node:assert/strict';
import { communityId } from '../../agent/flows/community-id.js';

// Known vectors of the Community ID spec (as in Zeek's community-id plugin tests).
test('community_id v1 matches the spec test vectors', () => {
  assert.equal(communityId(6, '1.2.3.4', 1122, '5.6.7.8', 3344), '1:wCb3OG7yAFWelaUydu0D+125CLM=');
  assert.equal(communityId(17, '1.2.3.4', 1122, '5.6.7.8', 3344), '1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=');
});

test('community_id is the same in both directions, v4 and v6', () => {
  assert.equal(communityId(6, '5.6.7.8', 3344, '1.2.3.4', 1122), '1:wCb3OG7yAFWelaUydu0D+125CLM=');
  const a = communityId(6, '2001:db8::1', 443, 'fe80::2', 51000);
  assert.equal(a, communityId(6, 'fe80::2', 51000, '2001:db8::1', 443));
  assert.match(a, /^1:[A-Za-z0-9+/]{27}=$/);
  // Same address on both ends (loopback): ordered by port.
  assert.equal(communityId(6, '127.0.0.1', 5000, '127.0.0.1', 40000), communityId(6, '127.0.0.1', 40000, '127.0.0.1', 5000));
  assert.notEqual(communityId(6, '::1', 1, '::1', 2), communityId(17, '::1', 1, '::1', 2));
});
