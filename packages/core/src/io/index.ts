export type { NumericArray, DType, DenseArray } from './dtype.js';
export { encodeNpy, decodeNpy } from './npy.js';
export { encodeSafetensors, decodeSafetensors, openSafetensors, type SafetensorsFile } from './safetensors.js';
