import { defineConfig } from 'vitest/config';

// The WebGPU kernel, model and fixture tests run twice: on the adapter the
// environment gives (SwiftShader in .ci/run: subgroups, no shader-f16) and, as
// the project "webgpu-f16", on Mesa's lavapipe (scripts/lavapipe.sh), whose
// adapter has shader-f16, so the f16 kernels are checked against the reference
// too. test/kernels/webgpu-helpers.ts points VK_ICD_FILENAMES at lavapipe there.
const F16_FILES = [
  'test/kernels/webgpu-kernels.test.ts',
  'test/kernels/webgpu-model.test.ts',
  'test/kernels/webgpu-fixtures.test.ts',
  'test/model/load-options.test.ts',
  'test/model/multiseq.test.ts',
];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: more workers only contend.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'] } },
      { extends: true, test: { name: 'webgpu-f16', include: F16_FILES, env: { TSINFER_WEBGPU_F16: '1' } } },
    ],
  },
});
