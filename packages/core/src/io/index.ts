export type { NumericArray, DType, DenseArray } from './dtype.js';
export { encodeNpy, encodeNpyHeader, decodeNpy } from './npy.js';
export { encodeSafetensors, encodeSafetensorsHeader, decodeSafetensors, openSafetensors, type SafetensorsFile } from './safetensors.js';
