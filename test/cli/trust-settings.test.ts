// `serve` without limit flags uses the library's own defaults: each default NAR and upload limit is defined once.
import { expect, it } from 'vitest';
import { trustSettings } from '../../src/cli/trust-settings.js';
import { DEFAULT_HTTP_LIMITS } from '../../src/http/index.js';

it('serve without limit flags or variables has exactly the limits buildServer defaults to', () => {
  expect(trustSettings({}, {}).limits).toEqual(DEFAULT_HTTP_LIMITS);
});

it('a flag changes only its own limit', () => {
  const { limits } = trustSettings({ 'max-depth': '7' }, {});
  expect(limits).toEqual({ ...DEFAULT_HTTP_LIMITS, upload: { ...DEFAULT_HTTP_LIMITS.upload, nar: { ...DEFAULT_HTTP_LIMITS.upload.nar, maxDepth: 7 } } });
});
