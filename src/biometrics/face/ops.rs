//! CNN building blocks on `[height, width, channels]` f32 tensors (NHWC with N = 1, the
//! layout of TensorFlow.js, so filters load without transposition).
//!
//! Convolutions go through im2col + GEMM (`ndarray`'s `dot`, i.e. `matrixmultiply`), split
//! into row blocks that run on rayon's ambient pool; 1x1 convolutions skip im2col.
//! Depthwise 3x3 convolutions are direct loops over channels (they auto-vectorise).
//! Padding follows TensorFlow: "same" puts the odd extra pixel after (bottom/right).

use ndarray::{Array1, Array2, Array3, ArrayD, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Activation tensor `[h, w, c]`, standard (row-major) layout.
pub(crate) type Act = Array3<f32>;

thread_local! {
    /// im2col scratch, reused across calls on the same thread (the largest buffer of a forward
    /// pass, ~3 MB for the descriptor; fresh allocations of that size cost page faults on
    /// every photo).
    static IM2COL: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Rows of the im2col matrix handled by one task.
const GEMM_ROW_BLOCK: usize = 256;

/// Padding in pixels: top, bottom, left, right.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Pad(pub usize, pub usize, pub usize, pub usize);

impl Pad {
    pub(crate) const NONE: Pad = Pad(0, 0, 0, 0);

    /// TensorFlow "same" padding for a square input/kernel: (output size, pad).
    pub(crate) fn same(input: usize, k: usize, stride: usize) -> (usize, Pad) {
        let out = input.div_ceil(stride);
        let total = ((out - 1) * stride + k).saturating_sub(input);
        let before = total / 2;
        (out, Pad(before, total - before, before, total - before))
    }
}

/// A dense convolution `[kh, kw, cin, cout]` stored as a `[kh*kw*cin, cout]` matrix.
pub(crate) struct Conv {
    pub kh: usize,
    pub kw: usize,
    pub cin: usize,
    pub cout: usize,
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

impl Conv {
    pub(crate) fn new(filters: ArrayD<f32>, bias: Option<ArrayD<f32>>) -> Conv {
        let s = filters.shape().to_vec();
        let (kh, kw, cin, cout) = (s[0], s[1], s[2], s[3]);
        let w = filters
            .into_shape_with_order((kh * kw * cin, cout))
            .expect("filter shape checked by the loader");
        let b = match bias {
            Some(b) => b
                .into_shape_with_order(cout)
                .expect("bias shape checked by the loader"),
            None => Array1::zeros(cout),
        };
        Conv {
            kh,
            kw,
            cin,
            cout,
            w,
            b,
        }
    }

    /// Folds a per-channel affine `y * scale + shift` applied after this conv into it.
    pub(crate) fn fold_scale(&mut self, scale: &[f32], shift: &[f32]) {
        for (o, (&s, &t)) in scale.iter().zip(shift).enumerate() {
            self.w.column_mut(o).mapv_inplace(|v| v * s);
            self.b[o] = self.b[o] * s + t;
        }
    }

    /// Convolution with the given stride and padding (zeros), bias added.
    pub(crate) fn forward(&self, x: &Act, stride: usize, pad: Pad) -> Act {
        let (h, w, c) = x.dim();
        assert_eq!(c, self.cin, "conv input channels");
        let oh = (h + pad.0 + pad.1 - self.kh) / stride + 1;
        let ow = (w + pad.2 + pad.3 - self.kw) / stride + 1;
        let rows = oh * ow;
        let mut out = vec![0f32; rows * self.cout];
        let xs = x.as_slice().expect("standard layout");
        if self.kh * self.kw * c <= DIRECT_MAX_K && matches!(self.cout, 16 | 32 | 64) {
            // few input channels (the first layer of a net): direct convolution, bias included
            self.forward_direct(xs, (h, w, c), stride, pad, (oh, ow), &mut out);
            return Array3::from_shape_vec((oh, ow, self.cout), out).expect("conv output shape");
        } else if self.kh == 1 && self.kw == 1 && stride == 1 && pad == Pad::NONE {
            gemm_rows(xs, c, &self.w, &mut out);
        } else {
            let k = self.kh * self.kw * c;
            // Taken out of the thread-local (not borrowed) so that a nested forward pass that
            // rayon's work stealing may run on this thread meanwhile simply allocates its own.
            let mut scratch = IM2COL.with(|cell| cell.take());
            if scratch.len() < rows * k {
                scratch.resize(rows * k, 0.0);
            }
            let cols = &mut scratch[..rows * k];
            cols.par_chunks_mut(ow * k)
                .enumerate()
                .for_each(|(oy, row)| {
                    for ox in 0..ow {
                        let dst = &mut row[ox * k..(ox + 1) * k];
                        for ky in 0..self.kh {
                            let iy = (oy * stride + ky) as isize - pad.0 as isize;
                            for kx in 0..self.kw {
                                let ix = (ox * stride + kx) as isize - pad.2 as isize;
                                let d =
                                    &mut dst[(ky * self.kw + kx) * c..(ky * self.kw + kx + 1) * c];
                                if iy >= 0 && (iy as usize) < h && ix >= 0 && (ix as usize) < w {
                                    let src = (iy as usize * w + ix as usize) * c;
                                    d.copy_from_slice(&xs[src..src + c]);
                                } else {
                                    d.fill(0.0);
                                }
                            }
                        }
                    }
                });
            gemm_rows(cols, k, &self.w, &mut out);
            IM2COL.with(|cell| {
                let held = cell.take();
                cell.set(if held.len() > scratch.len() {
                    held
                } else {
                    scratch
                });
            });
        }
        let b = self.b.as_slice().expect("contiguous bias");
        out.par_chunks_mut(self.cout * 64).for_each(|blk| {
            for px in blk.chunks_exact_mut(self.cout) {
                for (v, bb) in px.iter_mut().zip(b) {
                    *v += bb;
                }
            }
        });
        Array3::from_shape_vec((oh, ow, self.cout), out).expect("conv output shape")
    }
}

/// Direct convolution is used when `kh * kw * cin` is at most this (im2col would be mostly
/// copying and the GEMM too thin to amortise its packing).
const DIRECT_MAX_K: usize = 32;

/// Multiply-add, plain or fused.
trait Mac {
    fn mac(a: f32, b: f32, acc: f32) -> f32;
}
struct Plain;
impl Mac for Plain {
    #[inline(always)]
    fn mac(a: f32, b: f32, acc: f32) -> f32 {
        a * b + acc
    }
}
#[cfg(target_arch = "x86_64")]
struct Fused;
#[cfg(target_arch = "x86_64")]
impl Mac for Fused {
    #[inline(always)]
    fn mac(a: f32, b: f32, acc: f32) -> f32 {
        a.mul_add(b, acc)
    }
}

/// Geometry of a direct convolution.
#[derive(Clone, Copy)]
struct Geom {
    h: usize,
    w: usize,
    c: usize,
    kh: usize,
    kw: usize,
    stride: usize,
    pad: Pad,
    ow: usize,
}

/// One output row of a direct convolution with `CO` output channels.
#[inline(always)]
fn direct_row<M: Mac, const CO: usize>(
    xs: &[f32],
    wm: &[f32],
    bias: &[f32; CO],
    g: Geom,
    oy: usize,
    row: &mut [f32],
) {
    for (ox, dst) in row.chunks_exact_mut(CO).enumerate().take(g.ow) {
        let mut acc = *bias;
        for ky in 0..g.kh {
            let iy = (oy * g.stride + ky) as isize - g.pad.0 as isize;
            if iy < 0 || iy as usize >= g.h {
                continue;
            }
            for kx in 0..g.kw {
                let ix = (ox * g.stride + kx) as isize - g.pad.2 as isize;
                if ix < 0 || ix as usize >= g.w {
                    continue;
                }
                let base = (iy as usize * g.w + ix as usize) * g.c;
                for ci in 0..g.c {
                    let v = xs[base + ci];
                    let off = ((ky * g.kw + kx) * g.c + ci) * CO;
                    let wr: &[f32; CO] = wm[off..off + CO].try_into().expect("weight row");
                    for o in 0..CO {
                        acc[o] = M::mac(v, wr[o], acc[o]);
                    }
                }
            }
        }
        dst.copy_from_slice(&acc);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn direct_row_avx2<const CO: usize>(
    xs: &[f32],
    wm: &[f32],
    bias: &[f32; CO],
    g: Geom,
    oy: usize,
    row: &mut [f32],
) {
    direct_row::<Fused, CO>(xs, wm, bias, g, oy, row)
}

fn direct_conv<const CO: usize>(xs: &[f32], wm: &[f32], bias: &[f32], g: Geom, out: &mut [f32]) {
    let bias: &[f32; CO] = bias.try_into().expect("bias length");
    #[cfg(target_arch = "x86_64")]
    let avx2 =
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
    out.par_chunks_mut(g.ow * CO)
        .enumerate()
        .for_each(|(oy, row)| {
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU supports AVX2 and FMA (checked above).
                unsafe { direct_row_avx2::<CO>(xs, wm, bias, g, oy, row) };
                return;
            }
            direct_row::<Plain, CO>(xs, wm, bias, g, oy, row);
        });
}

impl Conv {
    fn forward_direct(
        &self,
        xs: &[f32],
        (h, w, c): (usize, usize, usize),
        stride: usize,
        pad: Pad,
        (_oh, ow): (usize, usize),
        out: &mut [f32],
    ) {
        let g = Geom {
            h,
            w,
            c,
            kh: self.kh,
            kw: self.kw,
            stride,
            pad,
            ow,
        };
        let wm = self.w.as_slice().expect("contiguous filters");
        let b = self.b.as_slice().expect("contiguous bias");
        match self.cout {
            16 => direct_conv::<16>(xs, wm, b, g, out),
            32 => direct_conv::<32>(xs, wm, b, g, out),
            64 => direct_conv::<64>(xs, wm, b, g, out),
            n => unreachable!("direct conv with {n} outputs"),
        }
    }
}

/// `out[rows, n] = a[rows, k] * w[k, n]`, in parallel row blocks.
fn gemm_rows(a: &[f32], k: usize, w: &Array2<f32>, out: &mut [f32]) {
    let n = w.ncols();
    out.par_chunks_mut(GEMM_ROW_BLOCK * n)
        .zip(a.par_chunks(GEMM_ROW_BLOCK * k))
        .for_each(|(o, a)| {
            let r = a.len() / k;
            let av = ArrayView2::from_shape((r, k), a).expect("im2col block");
            let mut ov = ArrayViewMut2::from_shape((r, n), o).expect("output block");
            ndarray::linalg::general_mat_mul(1.0, &av, w, 0.0, &mut ov);
        });
}

/// Depthwise 3x3 convolution (channel multiplier 1), no bias.
pub(crate) struct Depthwise {
    pub c: usize,
    /// `[3, 3, c]` flattened.
    pub w: Vec<f32>,
}

impl Depthwise {
    pub(crate) fn new(filters: ArrayD<f32>) -> Depthwise {
        let c = filters.shape()[2];
        Depthwise {
            c,
            w: filters.iter().copied().collect(),
        }
    }

    pub(crate) fn forward(&self, x: &Act, stride: usize, pad: Pad) -> Act {
        let (h, w, c) = x.dim();
        assert_eq!(c, self.c, "depthwise channels");
        let oh = (h + pad.0 + pad.1 - 3) / stride + 1;
        let ow = (w + pad.2 + pad.3 - 3) / stride + 1;
        let xs = x.as_slice().expect("standard layout");
        let mut out = vec![0f32; oh * ow * c];
        out.par_chunks_mut(ow * c)
            .enumerate()
            .for_each(|(oy, row)| {
                for ky in 0..3 {
                    let iy = (oy * stride + ky) as isize - pad.0 as isize;
                    if iy < 0 || iy as usize >= h {
                        continue;
                    }
                    let iy = iy as usize;
                    for ox in 0..ow {
                        let dst = &mut row[ox * c..(ox + 1) * c];
                        for kx in 0..3 {
                            let ix = (ox * stride + kx) as isize - pad.2 as isize;
                            if ix < 0 || ix as usize >= w {
                                continue;
                            }
                            let src =
                                &xs[(iy * w + ix as usize) * c..(iy * w + ix as usize + 1) * c];
                            let k = &self.w[(ky * 3 + kx) * c..(ky * 3 + kx + 1) * c];
                            for ((d, s), kk) in dst.iter_mut().zip(src).zip(k) {
                                *d += s * kk;
                            }
                        }
                    }
                }
            });
        Array3::from_shape_vec((oh, ow, c), out).expect("depthwise output shape")
    }
}

/// Depthwise 3x3 followed by a 1x1 pointwise convolution with bias (tf.separableConv2d + bias).
pub(crate) struct SepConv {
    pub dw: Depthwise,
    pub pw: Conv,
}

impl SepConv {
    pub(crate) fn forward(&self, x: &Act, stride: usize, pad: Pad) -> Act {
        self.pw
            .forward(&self.dw.forward(x, stride, pad), 1, Pad::NONE)
    }
}

/// Max pooling over a `k`x`k` window; padded positions are ignored (TensorFlow semantics).
pub(crate) fn max_pool(x: &Act, k: usize, stride: usize, pad: Pad) -> Act {
    let (h, w, c) = x.dim();
    let oh = (h + pad.0 + pad.1 - k) / stride + 1;
    let ow = (w + pad.2 + pad.3 - k) / stride + 1;
    let xs = x.as_slice().expect("standard layout");
    let mut out = vec![f32::NEG_INFINITY; oh * ow * c];
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(oy, row)| {
            for ky in 0..k {
                let iy = (oy * stride + ky) as isize - pad.0 as isize;
                if iy < 0 || iy as usize >= h {
                    continue;
                }
                for ox in 0..ow {
                    let dst = &mut row[ox * c..(ox + 1) * c];
                    for kx in 0..k {
                        let ix = (ox * stride + kx) as isize - pad.2 as isize;
                        if ix < 0 || ix as usize >= w {
                            continue;
                        }
                        let s = (iy as usize * w + ix as usize) * c;
                        for (d, v) in dst.iter_mut().zip(&xs[s..s + c]) {
                            *d = d.max(*v);
                        }
                    }
                }
            }
        });
    Array3::from_shape_vec((oh, ow, c), out).expect("pool output shape")
}

/// Average pooling, "valid" padding.
pub(crate) fn avg_pool_valid(x: &Act, k: usize, stride: usize) -> Act {
    let (h, w, c) = x.dim();
    let oh = (h - k) / stride + 1;
    let ow = (w - k) / stride + 1;
    let xs = x.as_slice().expect("standard layout");
    let mut out = vec![0f32; oh * ow * c];
    let inv = 1.0 / (k * k) as f32;
    for oy in 0..oh {
        for ox in 0..ow {
            let dst = &mut out[(oy * ow + ox) * c..(oy * ow + ox + 1) * c];
            for ky in 0..k {
                for kx in 0..k {
                    let s = ((oy * stride + ky) * w + ox * stride + kx) * c;
                    for (d, v) in dst.iter_mut().zip(&xs[s..s + c]) {
                        *d += v;
                    }
                }
            }
            dst.iter_mut().for_each(|d| *d *= inv);
        }
    }
    Array3::from_shape_vec((oh, ow, c), out).expect("pool output shape")
}

pub(crate) fn relu(x: &mut Act) {
    x.par_mapv_inplace(|v| v.max(0.0));
}

/// Leaky ReLU with slope 0.1 (face-api's `leaky`).
pub(crate) fn leaky(x: &mut Act) {
    x.par_mapv_inplace(|v| if v > 0.0 { v } else { 0.1 * v });
}

/// TensorFlow `resizeBilinear` with `alignCorners = false, halfPixelCenters = false`
/// (the legacy mapping `src = dst * in / out` that face-api's `toBatchTensor` uses).
pub(crate) fn resize_bilinear_tf(x: &Act, oh: usize, ow: usize) -> Act {
    let (h, w, c) = x.dim();
    let xs = x.as_slice().expect("standard layout");
    let sy = h as f32 / oh as f32;
    let sx = w as f32 / ow as f32;
    let cols: Vec<(usize, usize, f32)> = (0..ow)
        .map(|ox| {
            let fx = ox as f32 * sx;
            let x0 = (fx.floor() as usize).min(w - 1);
            (x0, (x0 + 1).min(w - 1), fx - x0 as f32)
        })
        .collect();
    let mut out = vec![0f32; oh * ow * c];
    out.par_chunks_mut(ow * c)
        .enumerate()
        .for_each(|(oy, row)| {
            let fy = oy as f32 * sy;
            let y0 = (fy.floor() as usize).min(h - 1);
            let y1 = (y0 + 1).min(h - 1);
            let dy = fy - y0 as f32;
            for (ox, &(x0, x1, dx)) in cols.iter().enumerate() {
                for ch in 0..c {
                    let tl = xs[(y0 * w + x0) * c + ch];
                    let tr = xs[(y0 * w + x1) * c + ch];
                    let bl = xs[(y1 * w + x0) * c + ch];
                    let br = xs[(y1 * w + x1) * c + ch];
                    let top = tl + (tr - tl) * dx;
                    let bot = bl + (br - bl) * dx;
                    row[ox * c + ch] = top + (bot - top) * dy;
                }
            }
        });
    Array3::from_shape_vec((oh, ow, c), out).expect("resize output shape")
}

/// `pad_to_square` followed by `resize_bilinear_tf` to `out x out`, without materialising the
/// padded square: the image sits at (`top`, `left`) in a zero `side x side` canvas.
pub(crate) fn resize_padded_square(
    x: &Act,
    side: usize,
    top: usize,
    left: usize,
    out_side: usize,
) -> Act {
    let (h, w, c) = x.dim();
    let xs = x.as_slice().expect("standard layout");
    let scale = side as f32 / out_side as f32;
    // (canvas index 0, index 1, weight of index 1) along one axis
    let taps = |o: usize| {
        let f = o as f32 * scale;
        let i0 = (f.floor() as usize).min(side - 1);
        (i0, (i0 + 1).min(side - 1), f - i0 as f32)
    };
    let cols: Vec<(usize, usize, f32)> = (0..out_side).map(taps).collect();
    let mut out = vec![0f32; out_side * out_side * c];
    let px = |yy: usize, xx: usize, ch: usize| -> f32 {
        if yy >= top && yy < top + h && xx >= left && xx < left + w {
            xs[((yy - top) * w + (xx - left)) * c + ch]
        } else {
            0.0
        }
    };
    out.par_chunks_mut(out_side * c)
        .enumerate()
        .for_each(|(oy, row)| {
            let (y0, y1, dy) = taps(oy);
            for (ox, &(x0, x1, dx)) in cols.iter().enumerate() {
                for ch in 0..c {
                    let t = px(y0, x0, ch) + (px(y0, x1, ch) - px(y0, x0, ch)) * dx;
                    let b = px(y1, x0, ch) + (px(y1, x1, ch) - px(y1, x0, ch)) * dx;
                    row[ox * c + ch] = t + (b - t) * dy;
                }
            }
        });
    Array3::from_shape_vec((out_side, out_side, c), out).expect("resize output shape")
}

/// face-api's `padToSquare`: zero-pads the shorter side. Centred: `round(diff/2)` after and
/// the rest before; not centred: everything after (bottom/right).
pub(crate) fn pad_to_square(x: &Act, centred: bool) -> (Act, usize, usize) {
    let (h, w, c) = x.dim();
    if h == w {
        return (x.clone(), 0, 0);
    }
    let s = h.max(w);
    let diff = s - h.min(w);
    let before = if centred {
        diff - (diff as f64 * 0.5).round() as usize
    } else {
        0
    };
    let (top, left) = if h < w { (before, 0) } else { (0, before) };
    let mut out = Array3::zeros((s, s, c));
    out.slice_mut(ndarray::s![top..top + h, left..left + w, ..])
        .assign(x);
    (out, top, left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, IxDyn};

    fn naive_conv(x: &Act, f: &ArrayD<f32>, stride: usize, pad: Pad) -> Act {
        let (h, w, c) = x.dim();
        let s = f.shape();
        let (kh, kw, co) = (s[0], s[1], s[3]);
        let oh = (h + pad.0 + pad.1 - kh) / stride + 1;
        let ow = (w + pad.2 + pad.3 - kw) / stride + 1;
        Array3::from_shape_fn((oh, ow, co), |(oy, ox, o)| {
            let mut acc = 0.0;
            for ky in 0..kh {
                for kx in 0..kw {
                    let iy = (oy * stride + ky) as isize - pad.0 as isize;
                    let ix = (ox * stride + kx) as isize - pad.2 as isize;
                    if iy < 0 || ix < 0 || iy as usize >= h || ix as usize >= w {
                        continue;
                    }
                    for ci in 0..c {
                        acc += x[[iy as usize, ix as usize, ci]] * f[[ky, kx, ci, o]];
                    }
                }
            }
            acc
        })
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn im2col_conv_matches_naive() {
        let x = Array3::from_shape_vec((9, 7, 3), pseudo(9 * 7 * 3, 1)).unwrap();
        let f = Array::from_shape_vec(IxDyn(&[3, 3, 3, 5]), pseudo(135, 2)).unwrap();
        let conv = Conv::new(f.clone(), None);
        for (stride, pad) in [(1, Pad(1, 1, 1, 1)), (2, Pad(0, 1, 0, 1)), (2, Pad::NONE)] {
            let a = conv.forward(&x, stride, pad);
            let b = naive_conv(&x, &f, stride, pad);
            assert_eq!(a.dim(), b.dim());
            for (p, q) in a.iter().zip(b.iter()) {
                assert!((p - q).abs() < 1e-4, "{p} vs {q}");
            }
        }
    }

    #[test]
    fn direct_conv_matches_naive() {
        let x = Array3::from_shape_vec((11, 9, 3), pseudo(11 * 9 * 3, 7)).unwrap();
        for co in [16, 32, 64] {
            let f = Array::from_shape_vec(IxDyn(&[3, 3, 3, co]), pseudo(27 * co, 8)).unwrap();
            let conv = Conv::new(f.clone(), None);
            for (stride, pad) in [(1, Pad::NONE), (2, Pad(0, 1, 0, 1)), (1, Pad(1, 1, 1, 1))] {
                let a = conv.forward(&x, stride, pad);
                let b = naive_conv(&x, &f, stride, pad);
                assert_eq!(a.dim(), b.dim());
                for (p, q) in a.iter().zip(b.iter()) {
                    assert!((p - q).abs() < 1e-4, "{p} vs {q}");
                }
            }
        }
    }

    #[test]
    fn depthwise_matches_naive() {
        let x = Array3::from_shape_vec((6, 5, 4), pseudo(120, 3)).unwrap();
        let f = Array::from_shape_vec(IxDyn(&[3, 3, 4, 1]), pseudo(36, 4)).unwrap();
        let dw = Depthwise::new(f.clone());
        let (_, pad) = Pad::same(6, 3, 2);
        let a = dw.forward(&x, 2, pad);
        for ch in 0..4 {
            let xc = x.slice(ndarray::s![.., .., ch..ch + 1]).to_owned();
            let fc = f
                .slice(ndarray::s![.., .., ch..ch + 1, ..])
                .to_owned()
                .into_dyn();
            let b = naive_conv(&xc, &fc, 2, pad);
            for (oy, ox) in (0..a.dim().0).flat_map(|y| (0..a.dim().1).map(move |x| (y, x))) {
                assert!((a[[oy, ox, ch]] - b[[oy, ox, 0]]).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn fused_pad_resize_matches_two_steps() {
        let x = Array3::from_shape_vec((7, 12, 3), pseudo(7 * 12 * 3, 5)).unwrap();
        for centred in [false, true] {
            let (sq, top, left) = pad_to_square(&x, centred);
            let a = resize_bilinear_tf(&sq, 5, 5);
            let b = resize_padded_square(&x, 12, top, left, 5);
            for (p, q) in a.iter().zip(b.iter()) {
                assert!((p - q).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn same_padding_like_tensorflow() {
        assert_eq!(Pad::same(112, 3, 2), (56, Pad(0, 1, 0, 1)));
        assert_eq!(Pad::same(56, 3, 1), (56, Pad(1, 1, 1, 1)));
        assert_eq!(Pad::same(207, 2, 2), (104, Pad(0, 1, 0, 1)));
        assert_eq!(Pad::same(13, 2, 1), (13, Pad(0, 1, 0, 1)));
    }
}
