import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guard } from '../src/guard.js';

test('a guarded function returns what the function returns', () => {
  assert.equal(guard((a, b) => a + b)(2, 3), 5);
});

test('a guarded function reports its error to the console instead of throwing it', (t) => {
  const error = t.mock.method(console, 'error', () => {});
  const failure = new Error('boom');
  const result = guard(() => { throw failure; })();
  assert.equal(result, undefined);
  assert.deepEqual(error.mock.calls.map((call) => call.arguments), [['consentlog:', failure]]);
});
