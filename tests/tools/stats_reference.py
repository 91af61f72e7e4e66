#!/usr/bin/env python3
"""stats_reference: the expected values of tests/unit/test_stats.c, computed
independently of state/stats.c: z = the exact 97.5% normal quantile (mpmath,
50 digits), each formula of state/stats.h in decimal.Decimal at 50 digits.
Prints each bound as a double, and how far z = 1.96 would move it. Run by hand
(python3 tests/tools/stats_reference.py, needs python3-mpmath); not a test."""
import statistics, mpmath
from decimal import Decimal as D, getcontext
getcontext().prec = 50
mpmath.mp.dps = 50
zs = statistics.NormalDist().inv_cdf(0.975)
zexact = mpmath.sqrt(2) * mpmath.erfinv(mpmath.mpf("0.95"))
print("z statistics", repr(zs), "exact", zexact)
def run(Z):
    z = D(str(Z))
    def sqrt(x): return x.sqrt()
    def wilson(x, n):
        x, n = D(x), D(n)
        p = x / n; z2 = z*z
        den = 1 + z2/n
        c = (p + z2/(2*n))/den
        h = z*sqrt(p*(1-p)/n + z2/(4*n*n))/den
        return max(c-h, D(0)), min(c+h, D(1))
    def byar(a):
        a = D(a)
        lo = D(0) if a == 0 else a*(1 - 1/(9*a) - z/(3*sqrt(a)))**3
        a1 = a+1
        return lo, a1*(1 - 1/(9*a1) + z/(3*sqrt(a1)))**3
    def mean(vals):
        n = D(len(vals)); m = sum(D(v) for v in vals)/n
        s = sqrt(sum((D(v)-m)**2 for v in vals)/(n-1))
        return m - z*s/sqrt(n), m + z*s/sqrt(n)
    def weighted(wy, w, w2):
        wy, w, w2 = D(wy), D(w), D(w2)
        p = wy/w; ne = w*w/w2
        return wilson(p*ne, ne)
    def rr(a, ba, b, bb):
        a, ba, b, bb = D(a), D(ba), D(b), D(bb)
        r = (a/ba)/(b/bb); se = sqrt(1/a + 1/b)
        return (r.ln() - z*se).exp(), (r.ln() + z*se).exp()
    out = {}
    out["wilson 40/50"] = wilson(40, 50)
    out["wilson 0/10"] = wilson(0, 10)
    out["wilson 10/10"] = wilson(10, 10)
    out["wilson 1/1"] = wilson(1, 1)
    out["wilson 2.5/7"] = wilson("2.5", 7)
    out["byar 0"] = byar(0)
    out["byar 1"] = byar(1)
    out["byar 10"] = byar(10)
    out["byar 100"] = byar(100)
    out["mean 1..5"] = mean([1, 2, 3, 4, 5])
    out["weighted 2,2.5,4.25"] = weighted(2, "2.5", "4.25")
    out["rr 50/1e4 100/1e5"] = rr(50, 10000, 100, 100000)
    return out
ex = run(mpmath.nstr(zexact, 45))
app = run("1.96")
for k in ex:
    lo, hi = ex[k]
    print(f"{k:22s} lo {float(lo)!r:24} hi {float(hi)!r:24}  |diff vs z=1.96| {float(abs(lo-app[k][0])):.2e} {float(abs(hi-app[k][1])):.2e}")
