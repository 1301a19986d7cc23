//! Single-threaded f32 matrix products on slices (the `gemm` crate), for
//! the CPU kernels that split their work across threads themselves: the
//! fused training attention and the grouped experts. Bounds are checked
//! before the unsafe call.

/// One matrix operand: a slice with its row and column strides.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> Mat<'a> {
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: cols,
            cs: 1,
        }
    }

    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Mat {
            data,
            rs: 1,
            cs: cols,
        }
    }

    /// Panics unless an r × c matrix with these strides lies in the slice.
    pub fn check(&self, r: usize, c: usize) {
        let limit = isize::MAX as usize;
        assert!(self.rs <= limit && self.cs <= limit, "stride out of range");
        if r > 0 && c > 0 {
            let last = (r - 1)
                .checked_mul(self.rs)
                .zip((c - 1).checked_mul(self.cs))
                .and_then(|(a, b)| a.checked_add(b));
            assert!(
                last.is_some_and(|l| l < self.data.len()),
                "matrix {r}×{c} outside its slice of {}",
                self.data.len()
            );
        }
    }
}

/// c[m × n] = a[m × k] · b[k × n] (+ c when `accumulate`); c is row-major
/// with row stride `ldc`. Single-threaded: the callers split the work.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    m: usize,
    n: usize,
    k: usize,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
    a: Mat<'_>,
    b: Mat<'_>,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(ldc >= n, "output row stride {ldc} below its {n} columns");
    let end = (m - 1).checked_mul(ldc).and_then(|x| x.checked_add(n));
    assert!(
        end.is_some_and(|e| e <= c.len()),
        "output {m}×{n} outside its slice"
    );
    a.check(m, k);
    b.check(k, n);
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                c[r * ldc..r * ldc + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: the three matrices lie inside their slices (checked above), the
    // output does not alias the inputs (it is a distinct &mut slice), and the
    // strides are the ones the bounds were checked with.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            ldc as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}
