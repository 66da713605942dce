import { allStacks, buildApp, normalizeTemplate, template } from './helpers';

/**
 * One snapshot per synthesized template, with asset hashes replaced by a
 * marker so the snapshots are the same on every machine. A change to any
 * template shows up here as a reviewable diff; accept it with `npm test -- -u`.
 */
const t = buildApp();

describe('template snapshots', () => {
  test.each(allStacks(t).map((s) => [s.stackName, s] as const))('%s', (_name, stack) => {
    expect(normalizeTemplate(template(stack).toJSON())).toMatchSnapshot();
  });
});
