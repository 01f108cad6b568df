# Regenerates the .npy fixtures with NumPy (Debian python3-numpy 1.24): /usr/bin/python3 make-fixtures.py
import numpy as np

np.save('f32-2x3.npy', np.arange(6, dtype='<f4').reshape(2, 3) * np.float32(0.5) - np.float32(1))
np.save('i32-3.npy', np.array([49406, -7, 49407], dtype='<i4'))
np.save('f32-scalar.npy', np.array(2.5, dtype='<f4'))
np.save('f32-0x4.npy', np.zeros((0, 4), dtype='<f4'))
np.save('u8-2x2x2.npy', np.arange(8, dtype='|u1').reshape(2, 2, 2))
np.save('f32-big-shape0.npy', np.zeros((1234567, 0), dtype='<f4'))
# read-only: float16 widens to float32 on decode
np.save('f16-2x2.npy', np.array([[1, -2], [65504, 2 ** -24]], dtype='<f2'))
