//! `exp`, `ln` and `cos` from additions, multiplications and divisions only.
//!
//! The standard library forwards these to the platform's libm, whose last
//! bit differs between systems; a corpus must be byte-identical everywhere,
//! so the few curves it draws (loss decay, learning-rate schedule, log-normal
//! latencies) use these instead. Accuracy is around 1e-14, far more than the
//! printed digits need.

const LN_2: f64 = std::f64::consts::LN_2;

/// e^x, for |x| < 700.
pub fn exp(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    let x = x.min(700.0);
    let k = (x / LN_2).round();
    let r = x - k * LN_2;
    // Taylor series of e^r for |r| <= ln(2)/2, Horner form.
    let mut sum = 1.0;
    let mut term_index = 13.0;
    while term_index >= 1.0 {
        sum = 1.0 + sum * r / term_index;
        term_index -= 1.0;
    }
    sum * pow2(k as i64)
}

/// Natural logarithm, for x > 0 (returns -inf for 0 and NaN below).
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let bits = x.to_bits();
    let mut exponent = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut mantissa = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | (1023u64 << 52));
    if mantissa > std::f64::consts::SQRT_2 {
        mantissa /= 2.0;
        exponent += 1;
    }
    // ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.172.
    let s = (mantissa - 1.0) / (mantissa + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    let mut odd = 25.0;
    while odd >= 1.0 {
        sum = 1.0 / odd + s2 * sum;
        odd -= 2.0;
    }
    2.0 * s * sum + exponent as f64 * LN_2
}

/// Cosine of x (radians).
pub fn cos(x: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    let mut r = x - (x / tau).round() * tau;
    // cos(r) = -cos(pi - |r|): fold into [0, pi/2] for a short series.
    r = r.abs();
    let mut sign = 1.0;
    if r > std::f64::consts::FRAC_PI_2 {
        r = std::f64::consts::PI - r;
        sign = -1.0;
    }
    let r2 = r * r;
    let mut sum = 1.0;
    let mut n = 20.0;
    while n >= 2.0 {
        sum = 1.0 - sum * r2 / (n * (n - 1.0));
        n -= 2.0;
    }
    sign * sum
}

/// 2^k as an exact power of two.
fn pow2(k: i64) -> f64 {
    if k < -1022 {
        return 0.0;
    }
    if k > 1023 {
        return f64::INFINITY;
    }
    f64::from_bits(((k + 1023) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_to_libm() {
        for step in -400..400 {
            let x = f64::from(step) * 0.037;
            let expected = x.exp();
            assert!(((exp(x) - expected) / expected).abs() < 1e-13, "exp({x})");
            assert!((cos(x) - x.cos()).abs() < 1e-13, "cos({x})");
        }
        for step in 1..2000 {
            let x = f64::from(step) * 0.173;
            assert!((ln(x) - x.ln()).abs() < 1e-13, "ln({x})");
        }
        assert!((ln(1e-9) - 1e-9f64.ln()).abs() < 1e-12);
    }
}
