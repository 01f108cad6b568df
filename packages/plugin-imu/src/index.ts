import { imuTokenizer } from './imu-tokenizer.js';

export { imuTokenizer } from './imu-tokenizer.js';
export { decodeImu, type DecodedImu } from './decode-imu.js';
export { preprocessImu, validateImuPreset, type ImuFeatures } from './preprocess-imu.js';
export { patchifyImu } from './patchify-imu.js';
export { imuPresets, IMU_CHANNELS, type ImuPreset } from './presets.js';

/** The CLI's plugin discovery calls the default export (a factory) to get the plugin. */
export default imuTokenizer;
