;; SIMD kernels for Pillow's 8-bit two-pass resample (see src/resample.ts for the algorithm).
;; Both passes compute exactly Pillow's integer sums: sum(pixel * w) + 2^21, >> 22, clipped to 0..255.
;; Assemble: wat2wasm resample.wat -o resample.wasm (then node build-wasm.mjs).
(module
  (memory (export "memory") 1)

  ;; Horizontal pass on interleaved RGB. For each of `rows` rows (row r at src + r * srcStride) and each
  ;; output column xx: taps start at byte xs[xx] of the row; `groups` groups of 4 taps, each described by
  ;; 64 bytes at w + (xx * groups + g) * 64: i16 hi weights [w0 w1 w0 w1 w0 w1 0 0], [w2 w3 ...], then the
  ;; lo weights likewise, where w = hi * 2048 + lo (lo in [0, 2048)). i32x4.dot_i16x8_s sums tap pairs per
  ;; channel exactly; sum = (sumHi << 11) + sumLo. Writes 3 bytes per pixel (4 stored, the 4th overwritten).
  (func (export "hpass")
    (param $src i32) (param $srcStride i32) (param $rows i32)
    (param $xs i32) (param $w i32) (param $groups i32) (param $cols i32) (param $out i32)
    (local $r i32) (local $xx i32) (local $g i32) (local $rowPtr i32) (local $p i32) (local $wp i32)
    (local $v v128) (local $a v128) (local $b v128) (local $accH v128) (local $accL v128)
    (local.set $r (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $rowPtr (i32.add (local.get $src) (i32.mul (local.get $r) (local.get $srcStride))))
        (local.set $xx (i32.const 0))
        (local.set $wp (local.get $w))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $xx) (local.get $cols)))
            (local.set $p (i32.add (local.get $rowPtr)
              (i32.load (i32.add (local.get $xs) (i32.shl (local.get $xx) (i32.const 2))))))
            (local.set $accH (v128.const i32x4 0 0 0 0))
            (local.set $accL (v128.const i32x4 0 0 0 0))
            (local.set $g (local.get $groups))
            (loop $groupLoop
              (local.set $v (i8x16.swizzle (v128.load (local.get $p))
                (v128.const i8x16 0 3 1 4 2 5 16 16 6 9 7 10 8 11 16 16)))
              (local.set $a (i16x8.extend_low_i8x16_u (local.get $v)))
              (local.set $b (i16x8.extend_high_i8x16_u (local.get $v)))
              (local.set $accH (i32x4.add (local.get $accH)
                (i32x4.add
                  (i32x4.dot_i16x8_s (local.get $a) (v128.load (local.get $wp)))
                  (i32x4.dot_i16x8_s (local.get $b) (v128.load offset=16 (local.get $wp))))))
              (local.set $accL (i32x4.add (local.get $accL)
                (i32x4.add
                  (i32x4.dot_i16x8_s (local.get $a) (v128.load offset=32 (local.get $wp)))
                  (i32x4.dot_i16x8_s (local.get $b) (v128.load offset=48 (local.get $wp))))))
              (local.set $p (i32.add (local.get $p) (i32.const 12)))
              (local.set $wp (i32.add (local.get $wp) (i32.const 64)))
              (local.set $g (i32.sub (local.get $g) (i32.const 1)))
              (br_if $groupLoop (local.get $g)))
            (local.set $v
              (i32x4.shr_s
                (i32x4.add
                  (i32x4.add (i32x4.shl (local.get $accH) (i32.const 11)) (local.get $accL))
                  (v128.const i32x4 2097152 2097152 2097152 2097152))
                (i32.const 22)))
            (local.set $v (i8x16.narrow_i16x8_u
              (i16x8.narrow_i32x4_s (local.get $v) (local.get $v))
              (i16x8.narrow_i32x4_s (local.get $v) (local.get $v))))
            (i32.store (local.get $out) (i32x4.extract_lane 0 (local.get $v)))
            (local.set $out (i32.add (local.get $out) (i32.const 3)))
            (local.set $xx (i32.add (local.get $xx) (i32.const 1)))
            (br $colLoop)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))

  ;; Vertical pass, channel-agnostic over bytes. Output row yy = sum over t < count[yy] of
  ;; row (start[yy] + t) of src (rows srcStride apart) * weight[yy * ksize + t] (i32). 16 bytes at a time;
  ;; rowBytes is rounded up to 16, so up to 15 bytes past each row are computed (the caller leaves room,
  ;; and the next row's store overwrites them).
  (func (export "vpass")
    (param $src i32) (param $srcStride i32) (param $outRows i32) (param $starts i32) (param $counts i32)
    (param $weights i32) (param $ksize i32) (param $rowBytes i32) (param $out i32) (param $outStride i32)
    (local $yy i32) (local $x i32) (local $t i32) (local $n i32) (local $base i32) (local $p i32)
    (local $wrow i32) (local $wv v128) (local $v v128) (local $lo v128) (local $hi v128)
    (local $acc0 v128) (local $acc1 v128) (local $acc2 v128) (local $acc3 v128)
    (local.set $yy (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $yy) (local.get $outRows)))
        (local.set $base (i32.add (local.get $src)
          (i32.mul (i32.load (i32.add (local.get $starts) (i32.shl (local.get $yy) (i32.const 2))))
                   (local.get $srcStride))))
        (local.set $n (i32.load (i32.add (local.get $counts) (i32.shl (local.get $yy) (i32.const 2)))))
        (local.set $wrow (i32.add (local.get $weights)
          (i32.shl (i32.mul (local.get $yy) (local.get $ksize)) (i32.const 2))))
        (local.set $x (i32.const 0))
        (block $colsDone
          (loop $colLoop
            (br_if $colsDone (i32.ge_u (local.get $x) (local.get $rowBytes)))
            (local.set $acc0 (v128.const i32x4 2097152 2097152 2097152 2097152))
            (local.set $acc1 (local.get $acc0))
            (local.set $acc2 (local.get $acc0))
            (local.set $acc3 (local.get $acc0))
            (local.set $p (i32.add (local.get $base) (local.get $x)))
            (local.set $t (i32.const 0))
            (block $tapsDone
              (loop $tapLoop
                (br_if $tapsDone (i32.ge_u (local.get $t) (local.get $n)))
                (local.set $wv (i32x4.splat (i32.load (i32.add (local.get $wrow) (i32.shl (local.get $t) (i32.const 2))))))
                (local.set $v (v128.load (local.get $p)))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $acc0 (i32x4.add (local.get $acc0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $wv))))
                (local.set $acc1 (i32x4.add (local.get $acc1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $wv))))
                (local.set $acc2 (i32x4.add (local.get $acc2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $wv))))
                (local.set $acc3 (i32x4.add (local.get $acc3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $wv))))
                (local.set $p (i32.add (local.get $p) (local.get $srcStride)))
                (local.set $t (i32.add (local.get $t) (i32.const 1)))
                (br $tapLoop)))
            (v128.store
              (i32.add (i32.add (local.get $out) (i32.mul (local.get $yy) (local.get $outStride))) (local.get $x))
              (i8x16.narrow_i16x8_u
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $acc0) (i32.const 22))
                  (i32x4.shr_s (local.get $acc1) (i32.const 22)))
                (i16x8.narrow_i32x4_s
                  (i32x4.shr_s (local.get $acc2) (i32.const 22))
                  (i32x4.shr_s (local.get $acc3) (i32.const 22)))))
            (local.set $x (i32.add (local.get $x) (i32.const 16)))
            (br $colLoop)))
        (local.set $yy (i32.add (local.get $yy) (i32.const 1)))
        (br $rowLoop))))
  ;; Normalization into float32 planes, fused after the passes: value = ((v / 255) - mean[c]) / std[c],
  ;; each operation in float32 (IEEE, as torch's ToTensor + Normalize). Input: `rows` rows of `cols`
  ;; interleaved RGB pixels (row y at src + y * srcStride; 4 readable bytes past each row). Pixel x of
  ;; row y, channel c is stored at byte rowBase[y] + col[x] + c * plane (i32 tables), which expresses both
  ;; the [C, H, W] layout and patchify's token order, mirrored or not. With contiguous = 1 the caller
  ;; promises col[x + k] = col[x] + 4k inside each aligned group of 4 columns, so groups store vectors.
  (func (export "normalize")
    (param $src i32) (param $srcStride i32) (param $rows i32) (param $cols i32)
    (param $rowBase i32) (param $col i32) (param $plane i32) (param $contiguous i32)
    (param $m0 f32) (param $m1 f32) (param $m2 f32) (param $s0 f32) (param $s1 f32) (param $s2 f32)
    (local $y i32) (local $x i32) (local $p i32) (local $base i32) (local $d i32) (local $plane2 i32)
    (local $v v128) (local $r v128) (local $g v128) (local $b v128)
    (local $mr v128) (local $mg v128) (local $mb v128) (local $sr v128) (local $sg v128) (local $sb v128)
    (local.set $mr (f32x4.splat (local.get $m0)))
    (local.set $mg (f32x4.splat (local.get $m1)))
    (local.set $mb (f32x4.splat (local.get $m2)))
    (local.set $sr (f32x4.splat (local.get $s0)))
    (local.set $sg (f32x4.splat (local.get $s1)))
    (local.set $sb (f32x4.splat (local.get $s2)))
    (local.set $plane2 (i32.shl (local.get $plane) (i32.const 1)))
    (local.set $y (i32.const 0))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $y) (local.get $rows)))
        (local.set $p (i32.add (local.get $src) (i32.mul (local.get $y) (local.get $srcStride))))
        (local.set $base (i32.load (i32.add (local.get $rowBase) (i32.shl (local.get $y) (i32.const 2)))))
        (local.set $x (i32.const 0))
        (block $groupsDone
          (loop $groupLoop
            (br_if $groupsDone (i32.gt_u (i32.add (local.get $x) (i32.const 4)) (local.get $cols)))
            (local.set $v (v128.load (local.get $p)))
            (local.set $r (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_s
              (i8x16.swizzle (local.get $v) (v128.const i8x16 0 16 16 16 3 16 16 16 6 16 16 16 9 16 16 16)))
              (v128.const f32x4 255 255 255 255)) (local.get $mr)) (local.get $sr)))
            (local.set $g (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_s
              (i8x16.swizzle (local.get $v) (v128.const i8x16 1 16 16 16 4 16 16 16 7 16 16 16 10 16 16 16)))
              (v128.const f32x4 255 255 255 255)) (local.get $mg)) (local.get $sg)))
            (local.set $b (f32x4.div (f32x4.sub (f32x4.div (f32x4.convert_i32x4_s
              (i8x16.swizzle (local.get $v) (v128.const i8x16 2 16 16 16 5 16 16 16 8 16 16 16 11 16 16 16)))
              (v128.const f32x4 255 255 255 255)) (local.get $mb)) (local.get $sb)))
            (local.set $d (i32.add (local.get $base) (i32.load (i32.add (local.get $col) (i32.shl (local.get $x) (i32.const 2))))))
            (if (local.get $contiguous)
              (then
                (v128.store (local.get $d) (local.get $r))
                (v128.store (i32.add (local.get $d) (local.get $plane)) (local.get $g))
                (v128.store (i32.add (local.get $d) (local.get $plane2)) (local.get $b)))
              (else
                (call $store3 (local.get $d) (local.get $plane)
                  (f32x4.extract_lane 0 (local.get $r)) (f32x4.extract_lane 0 (local.get $g)) (f32x4.extract_lane 0 (local.get $b)))
                (call $store3 (i32.add (local.get $base) (i32.load offset=4 (i32.add (local.get $col) (i32.shl (local.get $x) (i32.const 2))))) (local.get $plane)
                  (f32x4.extract_lane 1 (local.get $r)) (f32x4.extract_lane 1 (local.get $g)) (f32x4.extract_lane 1 (local.get $b)))
                (call $store3 (i32.add (local.get $base) (i32.load offset=8 (i32.add (local.get $col) (i32.shl (local.get $x) (i32.const 2))))) (local.get $plane)
                  (f32x4.extract_lane 2 (local.get $r)) (f32x4.extract_lane 2 (local.get $g)) (f32x4.extract_lane 2 (local.get $b)))
                (call $store3 (i32.add (local.get $base) (i32.load offset=12 (i32.add (local.get $col) (i32.shl (local.get $x) (i32.const 2))))) (local.get $plane)
                  (f32x4.extract_lane 3 (local.get $r)) (f32x4.extract_lane 3 (local.get $g)) (f32x4.extract_lane 3 (local.get $b)))))
            (local.set $p (i32.add (local.get $p) (i32.const 12)))
            (local.set $x (i32.add (local.get $x) (i32.const 4)))
            (br $groupLoop)))
        ;; Remaining columns (cols not a multiple of 4), one pixel at a time with the same scalar ops.
        (block $tailDone
          (loop $tailLoop
            (br_if $tailDone (i32.ge_u (local.get $x) (local.get $cols)))
            (call $store3
              (i32.add (local.get $base) (i32.load (i32.add (local.get $col) (i32.shl (local.get $x) (i32.const 2)))))
              (local.get $plane)
              (f32.div (f32.sub (f32.div (f32.convert_i32_u (i32.load8_u (local.get $p))) (f32.const 255)) (local.get $m0)) (local.get $s0))
              (f32.div (f32.sub (f32.div (f32.convert_i32_u (i32.load8_u offset=1 (local.get $p))) (f32.const 255)) (local.get $m1)) (local.get $s1))
              (f32.div (f32.sub (f32.div (f32.convert_i32_u (i32.load8_u offset=2 (local.get $p))) (f32.const 255)) (local.get $m2)) (local.get $s2)))
            (local.set $p (i32.add (local.get $p) (i32.const 3)))
            (local.set $x (i32.add (local.get $x) (i32.const 1)))
            (br $tailLoop)))
        (local.set $y (i32.add (local.get $y) (i32.const 1)))
        (br $rowLoop))))

  (func $store3 (param $d i32) (param $plane i32) (param $r f32) (param $g f32) (param $b f32)
    (f32.store (local.get $d) (local.get $r))
    (f32.store (i32.add (local.get $d) (local.get $plane)) (local.get $g))
    (f32.store (i32.add (local.get $d) (i32.shl (local.get $plane) (i32.const 1))) (local.get $b)))
)
