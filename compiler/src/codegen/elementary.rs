//! `exp`, `log` and `tanh` computed inline, on one f64 or on two `f64x2` lanes: the
//! runtime's kernels (`dl_runtime::elementary`) instruction for instruction,
//! so generated code and the interpreter agree bit for bit. `pow` with a
//! small non-negative integer exponent is inline too, on one f64: the
//! repeated squaring of `dl_runtime::math::pow`.
//!
//! Each kernel only holds in its fast range; the caller tests the range
//! ([`exp_in_range`], [`log_in_range`]) and calls the runtime's scalar
//! function outside it.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{types, Endianness, InstBuilder, MemFlagsData, Type, Value};
use cranelift_frontend::FunctionBuilder;
use dl_runtime::elementary::{
    EXP_LIMIT, EXP_LN2_N_HI, EXP_LN2_N_LO, EXP_N_INV_LN2, EXP_POLY, EXP_TABLE_BITS, LN2_HI, LN2_LO, LOG_LG,
    LOG_SPLIT_HIGH, LOG_SPLIT_LOW, SHIFTER, TANH_LIMIT, TANH_P, TANH_Q, TANH_SPLIT,
};
use dl_runtime::math::POW_BY_SQUARING_MAX;

/// The integer type of the same width as the float type `ty`.
fn int_type(ty: Type) -> Type {
    if ty.is_vector() {
        types::I64X2
    } else {
        types::I64
    }
}

fn float(b: &mut FunctionBuilder, ty: Type, x: f64) -> Value {
    let scalar = b.ins().f64const(x);
    if ty.is_vector() {
        b.ins().splat(ty, scalar)
    } else {
        scalar
    }
}

fn int(b: &mut FunctionBuilder, ty: Type, x: i64) -> Value {
    let scalar = b.ins().iconst(types::I64, x);
    if ty.is_vector() {
        b.ins().splat(ty, scalar)
    } else {
        scalar
    }
}

/// Reinterprets the bits of `x` as `to` (lanes in memory order).
fn reinterpret(b: &mut FunctionBuilder, to: Type, x: Value) -> Value {
    let flags = MemFlagsData::new().with_endianness(Endianness::Little);
    b.ins().bitcast(to, flags, x)
}

/// `x * c + d` with the constants `c` and `d`, rounded twice.
fn mul_add(b: &mut FunctionBuilder, ty: Type, x: Value, c: Value, d: f64) -> Value {
    let product = b.ins().fmul(x, c);
    let d = float(b, ty, d);
    b.ins().fadd(product, d)
}

/// `c0 + x (c1 + x (c2 + ...))`, Horner's rule as the runtime writes it.
fn horner(b: &mut FunctionBuilder, ty: Type, x: Value, coefficients: &[f64]) -> Value {
    let (last, rest) = coefficients.split_last().expect("a polynomial");
    let mut acc = float(b, ty, *last);
    for c in rest.iter().rev() {
        acc = mul_add(b, ty, x, acc, *c);
    }
    acc
}

/// A per-lane condition that all lanes hold: an `i8` truth value.
fn all(b: &mut FunctionBuilder, condition: Value) -> Value {
    if b.func.dfg.value_type(condition).is_vector() {
        b.ins().vall_true(condition)
    } else {
        condition
    }
}

/// Whether every lane of `x` is in the fast range of [`exp_kernel`].
pub fn exp_in_range(b: &mut FunctionBuilder, x: Value) -> Value {
    magnitude_at_most(b, x, EXP_LIMIT)
}

/// Whether `|x| <= limit` in every lane of `x` (NaN is not).
fn magnitude_at_most(b: &mut FunctionBuilder, x: Value, limit: f64) -> Value {
    let ty = b.func.dfg.value_type(x);
    let magnitude = b.ins().fabs(x);
    let limit = float(b, ty, limit);
    let inside = b.ins().fcmp(FloatCC::LessThanOrEqual, magnitude, limit);
    all(b, inside)
}

/// `e^x` lane by lane, for `|x| <= EXP_LIMIT`
/// (`dl_runtime::elementary::exp_kernel`); `table` is the address of
/// `dl_exp_table`.
pub fn exp_kernel(b: &mut FunctionBuilder, x: Value, table: Value) -> Value {
    let ty = b.func.dfg.value_type(x);
    let ity = int_type(ty);
    let n_inv_ln2 = float(b, ty, EXP_N_INV_LN2);
    let shifted = mul_add(b, ty, x, n_inv_ln2, SHIFTER);
    let k_bits = reinterpret(b, ity, shifted);
    let shifter = float(b, ty, SHIFTER);
    let kd = b.ins().fsub(shifted, shifter);
    let ln2_hi = float(b, ty, EXP_LN2_N_HI);
    let k_ln2_hi = b.ins().fmul(kd, ln2_hi);
    let r = b.ins().fsub(x, k_ln2_hi);
    let ln2_lo = float(b, ty, EXP_LN2_N_LO);
    let k_ln2_lo = b.ins().fmul(kd, ln2_lo);
    let r = b.ins().fsub(r, k_ln2_lo);
    let (tail, scale_base) = exp_table_entries(b, ty, k_bits, table);
    let k_shifted = b.ins().ishl_imm_u(k_bits, i64::from(52 - EXP_TABLE_BITS));
    let scale_bits = b.ins().iadd(scale_base, k_shifted);
    let scale = reinterpret(b, ty, scale_bits);
    // tail + r + r2 (c2 + r c3) + r2 r2 ((c4 + r c5) + r2 c6), left to right.
    let [c2, c3, c4, c5, c6] = EXP_POLY;
    let r2 = b.ins().fmul(r, r);
    let c3 = float(b, ty, c3);
    let low = mul_add(b, ty, r, c3, c2);
    let c5 = float(b, ty, c5);
    let high = mul_add(b, ty, r, c5, c4);
    let c6 = float(b, ty, c6);
    let r2_c6 = b.ins().fmul(r2, c6);
    let high = b.ins().fadd(high, r2_c6);
    let p = b.ins().fadd(tail, r);
    let r2_low = b.ins().fmul(r2, low);
    let p = b.ins().fadd(p, r2_low);
    let r4 = b.ins().fmul(r2, r2);
    let r4_high = b.ins().fmul(r4, high);
    let p = b.ins().fadd(p, r4_high);
    let scale_p = b.ins().fmul(scale, p);
    b.ins().fadd(scale, scale_p)
}

/// The table entry `k mod N` of each lane: its `tail` (float) and its
/// scale bits (integer), loaded lane by lane.
fn exp_table_entries(b: &mut FunctionBuilder, ty: Type, k_bits: Value, table: Value) -> (Value, Value) {
    let flags = MemFlagsData::trusted().with_readonly().with_can_move();
    let entry = |b: &mut FunctionBuilder, k: Value| {
        let i = b.ins().band_imm_u(k, (1i64 << EXP_TABLE_BITS) - 1);
        let offset = b.ins().ishl_imm_u(i, 4);
        let address = b.ins().iadd(table, offset);
        let tail = b.ins().load(types::F64, flags, address, 0);
        let scale_base = b.ins().load(types::I64, flags, address, 8);
        (tail, scale_base)
    };
    if !ty.is_vector() {
        return entry(b, k_bits);
    }
    let k0 = b.ins().extractlane(k_bits, 0);
    let k1 = b.ins().extractlane(k_bits, 1);
    let (tail0, scale0) = entry(b, k0);
    let (tail1, scale1) = entry(b, k1);
    let tails = b.ins().splat(ty, tail0);
    let tails = b.ins().insertlane(tails, tail1, 1);
    let scales = b.ins().splat(types::I64X2, scale0);
    let scales = b.ins().insertlane(scales, scale1, 1);
    (tails, scales)
}

/// Whether every lane of `x` is in the fast range of [`log_kernel`]:
/// positive, normal and finite.
pub fn log_in_range(b: &mut FunctionBuilder, x: Value) -> Value {
    let ty = b.func.dfg.value_type(x);
    let smallest = float(b, ty, f64::MIN_POSITIVE);
    let infinity = float(b, ty, f64::INFINITY);
    let above = b.ins().fcmp(FloatCC::GreaterThanOrEqual, x, smallest);
    let finite = b.ins().fcmp(FloatCC::LessThan, x, infinity);
    let inside = b.ins().band(above, finite);
    all(b, inside)
}

/// `ln x` lane by lane, for positive, normal, finite `x`
/// (`dl_runtime::elementary::log_kernel`).
pub fn log_kernel(b: &mut FunctionBuilder, x: Value) -> Value {
    let ty = b.func.dfg.value_type(x);
    let ity = int_type(ty);
    let bits = reinterpret(b, ity, x);
    let high = b.ins().ushr_imm_u(bits, 32);
    let top_mask = int(b, ity, 0x000f_ffff);
    let top = b.ins().band(high, top_mask);
    let nudge = int(b, ity, 0x95f64);
    let nudged = b.ins().iadd(top, nudge);
    let bit20 = int(b, ity, 0x10_0000);
    let round_up = b.ins().band(nudged, bit20);
    // exponent = (bits >> 52) - 1023 + (round_up >> 20), as an exact f64.
    let biased_exponent = b.ins().ushr_imm_u(bits, 52);
    let carry = b.ins().ushr_imm_u(round_up, 20);
    let exponent = b.ins().iadd(biased_exponent, carry);
    let to_float = int(b, ity, (SHIFTER.to_bits() as i64).wrapping_sub(1023));
    let exponent_bits = b.ins().iadd(exponent, to_float);
    let exponent_shifted = reinterpret(b, ty, exponent_bits);
    let shifter = float(b, ty, SHIFTER);
    let dk = b.ins().fsub(exponent_shifted, shifter);
    // m = x / 2^exponent in [sqrt(2)/2, sqrt(2)), f = m - 1.
    let significand_mask = int(b, ity, 0x000f_ffff_ffff_ffff);
    let significand = b.ins().band(bits, significand_mask);
    let one_exponent = int(b, ity, 0x3ff0_0000);
    let new_high = b.ins().bxor(round_up, one_exponent);
    let new_high = b.ins().ishl_imm_u(new_high, 32);
    let m_bits = b.ins().bor(significand, new_high);
    let m = reinterpret(b, ty, m_bits);
    let one = float(b, ty, 1.0);
    let f = b.ins().fsub(m, one);
    let two = float(b, ty, 2.0);
    let two_plus_f = b.ins().fadd(two, f);
    let s = b.ins().fdiv(f, two_plus_f);
    let z = b.ins().fmul(s, s);
    let w = b.ins().fmul(z, z);
    let [lg1, lg2, lg3, lg4, lg5, lg6, lg7] = LOG_LG;
    let t1_poly = horner(b, ty, w, &[lg2, lg4, lg6]);
    let t1 = b.ins().fmul(w, t1_poly);
    let t2_poly = horner(b, ty, w, &[lg1, lg3, lg5, lg7]);
    let t2 = b.ins().fmul(z, t2_poly);
    let r = b.ins().fadd(t2, t1);
    let ln2_hi = float(b, ty, LN2_HI);
    let ln2_lo = float(b, ty, LN2_LO);
    let dk_hi = b.ins().fmul(dk, ln2_hi);
    let dk_lo = b.ins().fmul(dk, ln2_lo);
    // Far from 1: dk ln2_hi - ((hfsq - (s (hfsq + r) + dk ln2_lo)) - f).
    let half = float(b, ty, 0.5);
    let half_f = b.ins().fmul(half, f);
    let hfsq = b.ins().fmul(half_f, f);
    let hfsq_r = b.ins().fadd(hfsq, r);
    let s_hfsq_r = b.ins().fmul(s, hfsq_r);
    let sum = b.ins().fadd(s_hfsq_r, dk_lo);
    let diff = b.ins().fsub(hfsq, sum);
    let diff = b.ins().fsub(diff, f);
    let far_value = b.ins().fsub(dk_hi, diff);
    // Near 1: dk ln2_hi - ((s (f - r) - dk ln2_lo) - f).
    let f_r = b.ins().fsub(f, r);
    let s_f_r = b.ins().fmul(s, f_r);
    let diff = b.ins().fsub(s_f_r, dk_lo);
    let diff = b.ins().fsub(diff, f);
    let near_value = b.ins().fsub(dk_hi, diff);
    // far = ((top - LOW) | (HIGH - top)) > 0, as signed integers.
    let low = int(b, ity, LOG_SPLIT_LOW as i64);
    let high_split = int(b, ity, LOG_SPLIT_HIGH as i64);
    let above_low = b.ins().isub(top, low);
    let below_high = b.ins().isub(high_split, top);
    let either = b.ins().bor(above_low, below_high);
    let zero = int(b, ity, 0);
    let far = b.ins().icmp(IntCC::SignedGreaterThan, either, zero);
    if ty.is_vector() {
        let mask = reinterpret(b, ty, far);
        b.ins().bitselect(mask, far_value, near_value)
    } else {
        b.ins().select(far, far_value, near_value)
    }
}

/// Whether every lane of `x` is in the range of [`tanh_kernel`].
pub fn tanh_in_range(b: &mut FunctionBuilder, x: Value) -> Value {
    magnitude_at_most(b, x, TANH_LIMIT)
}

/// `tanh x` as `dl_runtime::elementary::tanh_kernel` computes it: both of
/// its formulas, then the one for each lane's magnitude, with `x`'s sign.
pub fn tanh_kernel(b: &mut FunctionBuilder, x: Value, table: Value) -> Value {
    let ty = b.func.dfg.value_type(x);
    let f = b.ins().fabs(x);
    let one = float(b, ty, 1.0);
    let two = float(b, ty, 2.0);
    let twice = b.ins().fadd(f, f);
    let e = exp_kernel(b, twice, table);
    let e1 = b.ins().fadd(e, one);
    let fraction = b.ins().fdiv(two, e1);
    let large = b.ins().fsub(one, fraction);
    let g = b.ins().fmul(f, f);
    let [p0, p1, p2] = TANH_P;
    let [q0, q1, q2] = TANH_Q;
    let p = float(b, ty, p2);
    let p = mul_add(b, ty, p, g, p1);
    let p = mul_add(b, ty, p, g, p0);
    let numerator = b.ins().fmul(g, p);
    let q2 = float(b, ty, q2);
    let q = b.ins().fadd(g, q2);
    let q = mul_add(b, ty, q, g, q1);
    let denominator = mul_add(b, ty, q, g, q0);
    let ratio = b.ins().fdiv(numerator, denominator);
    let correction = b.ins().fmul(f, ratio);
    let small = b.ins().fadd(f, correction);
    let split = float(b, ty, TANH_SPLIT);
    let above = b.ins().fcmp(FloatCC::GreaterThan, f, split);
    let r = if ty.is_vector() {
        let mask = reinterpret(b, ty, above);
        b.ins().bitselect(mask, large, small)
    } else {
        b.ins().select(above, large, small)
    };
    // r is not negative: its sign bit becomes x's.
    let ity = int_type(ty);
    let r_bits = reinterpret(b, ity, r);
    let x_bits = reinterpret(b, ity, x);
    let sign = int(b, ity, i64::MIN);
    let x_sign = b.ins().band(x_bits, sign);
    let signed = b.ins().bor(r_bits, x_sign);
    reinterpret(b, ty, signed)
}

/// Whether `pow(x, y)` takes [`pow_kernel`]: `y` is an integer in
/// `0..=POW_BY_SQUARING_MAX` (the runtime's squaring path, negative
/// exponents aside).
pub fn pow_in_range(b: &mut FunctionBuilder, y: Value) -> Value {
    let zero = b.ins().f64const(0.0);
    let max = b.ins().f64const(POW_BY_SQUARING_MAX);
    let low = b.ins().fcmp(FloatCC::GreaterThanOrEqual, y, zero);
    let high = b.ins().fcmp(FloatCC::LessThanOrEqual, y, max);
    let n = b.ins().fcvt_to_sint_sat(types::I64, y);
    let back = b.ins().fcvt_from_sint(types::F64, n);
    let integral = b.ins().fcmp(FloatCC::Equal, back, y);
    let in_range = b.ins().band(low, high);
    b.ins().band(in_range, integral)
}

/// The bits of the largest exponent [`pow_kernel`] takes.
pub const POW_BITS: u32 = u64::BITS - (POW_BY_SQUARING_MAX as u64).leading_zeros();

/// `x ** y` for `y` in [`pow_in_range`] below `2^bits`, by repeated
/// squaring over `bits` bits. The runtime stops at the highest set bit;
/// the steps after it multiply the result by 1.0, which changes no bit.
/// The factor of each step is chosen by a mask, not a branch.
pub fn pow_kernel(b: &mut FunctionBuilder, x: Value, y: Value, bits: u32) -> Value {
    let n = b.ins().fcvt_to_sint_sat(types::I64, y);
    pow_by_bits(b, x, n, bits)
}

/// [`pow_kernel`] given the exponent as an integer `n`: an `i64` for an
/// `f64` base, an `i64x2` for two lanes.
pub fn pow_by_bits(b: &mut FunctionBuilder, x: Value, n: Value, bits: u32) -> Value {
    let ty = b.func.dfg.value_type(x);
    let int_ty = b.func.dfg.value_type(n);
    let one = float(b, ty, 1.0);
    let one_bits = reinterpret(b, int_ty, one);
    let low_bit = int(b, int_ty, 1);
    let mut base = x;
    let mut result = one;
    for bit in 0..bits {
        let amount = b.ins().iconst(types::I64, i64::from(bit));
        let shifted = b.ins().ushr(n, amount);
        let set = b.ins().band(shifted, low_bit);
        let mask = b.ins().ineg(set);
        let base_bits = reinterpret(b, int_ty, base);
        let chosen = b.ins().bitselect(mask, base_bits, one_bits);
        let factor = reinterpret(b, ty, chosen);
        result = b.ins().fmul(result, factor);
        if bit + 1 < bits {
            base = b.ins().fmul(base, base);
        }
    }
    result
}
