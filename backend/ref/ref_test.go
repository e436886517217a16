package ref

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mhcc/mhcc/ir"
)

// tb builds a small module and its parameter/input values for one test.
type tb struct {
	t      *testing.T
	b      *ir.Builder
	params map[string][]float64
	inputs map[string][]int
	binds  map[string]int
}

func newTB(t *testing.T, symbols ...string) *tb {
	return &tb{t: t, b: ir.NewBuilder("test.mhc", symbols...),
		params: map[string][]float64{}, inputs: map[string][]int{}, binds: map[string]int{}}
}

// p declares a constant-shape parameter with the given values.
func (c *tb) p(name string, shape []int, data ...float64) *ir.Value {
	c.t.Helper()
	if numel(shape) != len(data) {
		c.t.Fatalf("param %s: %d values for shape %v", name, len(data), shape)
	}
	c.params[name] = data
	return c.b.Param(name, ir.Dims(shape...), ir.Init{Kind: "zeros"}, false)
}

// idx declares a constant-shape i32 input with the given values.
func (c *tb) idx(name string, shape []int, data ...int) *ir.Value {
	c.t.Helper()
	c.inputs[name] = data
	return c.b.Input(name, ir.Type{DType: ir.I32, Shape: ir.Dims(shape...)})
}

// eval evaluates the module with v as output "out".
func (c *tb) eval(v *ir.Value) *Tensor {
	c.t.Helper()
	if err := c.b.Err(); err != nil {
		c.t.Fatalf("building the test module: %v", err)
	}
	c.b.Output("out", v)
	out, err := Eval(c.b.M, c.binds, c.params, c.inputs)
	if err != nil {
		c.t.Fatalf("Eval: %v\n%s", err, c.b.M)
	}
	return out["out"]
}

// evalErr evaluates the module expecting an error containing all of want.
func (c *tb) evalErr(v *ir.Value, want ...string) {
	c.t.Helper()
	if err := c.b.Err(); err != nil {
		c.t.Fatalf("building the test module: %v", err)
	}
	c.b.Output("out", v)
	_, err := Eval(c.b.M, c.binds, c.params, c.inputs)
	if err == nil {
		c.t.Fatalf("Eval succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			c.t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func closeTo(a, b float64) bool {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return true
	}
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b))
}

// check compares a tensor with an expected shape and row-major data.
func check(t *testing.T, what string, got *Tensor, shape []int, data ...float64) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil tensor", what)
	}
	if !slices.Equal(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if len(got.Data) != len(data) {
		t.Fatalf("%s: %d values, want %d", what, len(got.Data), len(data))
	}
	for i := range data {
		if !closeTo(got.Data[i], data[i]) {
			t.Errorf("%s: [%d] = %.17g, want %.17g", what, i, got.Data[i], data[i])
		}
	}
}

func sh(dims ...int) []int { return dims }

func TestUnaryOps(t *testing.T) {
	cases := []struct {
		op   string
		in   []float64
		want []float64
	}{
		{ir.OpNeg, []float64{-1, 0, 2}, []float64{1, 0, -2}},
		// e⁻¹ = 0.36787944117144233, e² = 7.38905609893065
		{ir.OpExp, []float64{-1, 0, 2}, []float64{0.36787944117144233, 1, 7.38905609893065}},
		// ln ¼ = −2 ln 2 = −1.3862943611198906
		{ir.OpLog, []float64{0.25, 1, 4}, []float64{-1.3862943611198906, 0, 1.3862943611198906}},
		{ir.OpSqrt, []float64{0.25, 1, 4}, []float64{0.5, 1, 2}},
		{ir.OpSquare, []float64{-1, 0, 3}, []float64{1, 0, 9}},
		// σ(−1) = 1/(1+e) = 0.2689414213699951, σ(2) = 1/(1+e⁻²) = 0.8807970779778823;
		// σ(±1000) must saturate to 0 and 1 without overflow.
		{ir.OpSigmoid, []float64{-1, 0, 2, -1000, 1000}, []float64{0.2689414213699951, 0.5, 0.8807970779778823, 0, 1}},
		{ir.OpTanh, []float64{-1, 0, 2}, []float64{-0.7615941559557649, 0, 0.9640275800758169}},
		{ir.OpRelu, []float64{-1, 0, 2}, []float64{0, 0, 2}},
	}
	for _, c := range cases {
		e := newTB(t)
		x := e.p("x", sh(len(c.in)), c.in...)
		check(t, c.op, e.eval(e.b.Apply(c.op, nil, x)), sh(len(c.in)), c.want...)
	}
}

func TestBinaryOpsRank2(t *testing.T) {
	// a = [[1,2,3],[4,5,6]] with a row vector [10,20,30] (broadcast over
	// rows), a column [[1],[2]] (broadcast over columns) and a scalar.
	a := []float64{1, 2, 3, 4, 5, 6}
	cases := []struct {
		op    string
		other []float64
		shape []int
		want  []float64
	}{
		{ir.OpAdd, []float64{10, 20, 30}, sh(3), []float64{11, 22, 33, 14, 25, 36}},
		{ir.OpSub, []float64{10, 20, 30}, sh(3), []float64{-9, -18, -27, -6, -15, -24}},
		{ir.OpMul, []float64{1, 2}, sh(2, 1), []float64{1, 2, 3, 8, 10, 12}},
		{ir.OpDiv, []float64{1, 2, 4}, sh(3), []float64{1, 1, 0.75, 4, 2.5, 1.5}},
		{ir.OpDiv, []float64{2}, sh(), []float64{0.5, 1, 1.5, 2, 2.5, 3}},
		{ir.OpSub, []float64{1, 2, 3, 4, 5, 6}, sh(2, 3), []float64{0, 0, 0, 0, 0, 0}},
	}
	for _, c := range cases {
		e := newTB(t)
		x := e.p("a", sh(2, 3), a...)
		y := e.p("b", c.shape, c.other...)
		check(t, c.op+" a,b", e.eval(e.b.Apply(c.op, nil, x, y)), sh(2, 3), c.want...)
	}
	// Operand order matters for sub/div: [10,20,30] − a.
	e := newTB(t)
	x := e.p("a", sh(2, 3), a...)
	y := e.p("b", sh(3), 10, 20, 30)
	check(t, "b−a", e.eval(e.b.Sub(y, x)), sh(2, 3), 9, 18, 27, 6, 15, 24)
	// A scalar const on the left: 1 − a.
	e = newTB(t)
	x = e.p("a", sh(2, 3), a...)
	check(t, "1−a", e.eval(e.b.Sub(e.b.Const(1), x)), sh(2, 3), 0, -1, -2, -3, -4, -5)
}

func TestBroadcastRank5(t *testing.T) {
	// x [2,1,3,1,2] with x[a,0,c,0,e] = 100a + 10c + e;
	// y [3,4,1] right-aligned to [1,1,3,4,1] with y[c,d,0] = 1000(d+1) + 0.5c.
	// The result is [2,1,3,4,2] with out[a,0,c,d,e] = x[a,0,c,0,e] + y[c,d,0],
	// e.g. out[1,0,2,3,1] = x[1,0,2,0,1] + y[2,3,0] = 121 + (4000 + 1) = 4122.
	e := newTB(t)
	var xd, yd []float64
	for a := 0; a < 2; a++ {
		for c := 0; c < 3; c++ {
			for k := 0; k < 2; k++ {
				xd = append(xd, float64(100*a+10*c+k))
			}
		}
	}
	for c := 0; c < 3; c++ {
		for d := 0; d < 4; d++ {
			yd = append(yd, 1000*float64(d+1)+0.5*float64(c))
		}
	}
	x := e.p("x", sh(2, 1, 3, 1, 2), xd...)
	y := e.p("y", sh(3, 4, 1), yd...)
	got := e.eval(e.b.Add(x, y))
	if !slices.Equal(got.Shape, sh(2, 1, 3, 4, 2)) {
		t.Fatalf("shape %v", got.Shape)
	}
	for a := 0; a < 2; a++ {
		for c := 0; c < 3; c++ {
			for d := 0; d < 4; d++ {
				for k := 0; k < 2; k++ {
					want := float64(100*a+10*c+k) + 1000*float64(d+1) + 0.5*float64(c)
					if g := got.At(a, 0, c, d, k); g != want {
						t.Errorf("out[%d,0,%d,%d,%d] = %v, want %v", a, c, d, k, g, want)
					}
				}
			}
		}
	}
	if g := got.At(1, 0, 2, 3, 1); g != 4122 {
		t.Errorf("out[1,0,2,3,1] = %v, want 4122", g)
	}
}

func TestBroadcastRank4Mul(t *testing.T) {
	// a [2,3,1,4] with a[i,j,0,l] = (i+1)·(l+1) + j/10 and b [3,5,1] with
	// b[j,k,0] = k − j, giving [2,3,5,4]: out[i,j,k,l] = a[i,j,0,l]·b[j,k,0].
	// Example: out[1,2,4,3] = (2·4 + 0.2)·(4 − 2) = 16.4.
	e := newTB(t)
	var ad, bd []float64
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for l := 0; l < 4; l++ {
				ad = append(ad, float64((i+1)*(l+1))+float64(j)/10)
			}
		}
	}
	for j := 0; j < 3; j++ {
		for k := 0; k < 5; k++ {
			bd = append(bd, float64(k-j))
		}
	}
	a := e.p("a", sh(2, 3, 1, 4), ad...)
	b := e.p("b", sh(3, 5, 1), bd...)
	got := e.eval(e.b.Mul(a, b))
	if !slices.Equal(got.Shape, sh(2, 3, 5, 4)) {
		t.Fatalf("shape %v", got.Shape)
	}
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 5; k++ {
				for l := 0; l < 4; l++ {
					want := (float64((i+1)*(l+1)) + float64(j)/10) * float64(k-j)
					if g := got.At(i, j, k, l); !closeTo(g, want) {
						t.Errorf("out[%d,%d,%d,%d] = %v, want %v", i, j, k, l, g, want)
					}
				}
			}
		}
	}
	if g := got.At(1, 2, 4, 3); !closeTo(g, 16.4) {
		t.Errorf("out[1,2,4,3] = %v, want 16.4", g)
	}
}

func TestReductions(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6} // [[1,2,3],[4,5,6]]
	cases := []struct {
		op    string
		axes  []int
		shape []int
		want  []float64
	}{
		{ir.OpSum, []int{1}, sh(2, 1), []float64{6, 15}},
		{ir.OpSum, []int{0}, sh(1, 3), []float64{5, 7, 9}},
		{ir.OpSum, []int{0, 1}, sh(1, 1), []float64{21}},
		{ir.OpMean, []int{1}, sh(2, 1), []float64{2, 5}},
		{ir.OpMean, []int{0}, sh(1, 3), []float64{2.5, 3.5, 4.5}},
		{ir.OpMax, []int{0}, sh(1, 3), []float64{4, 5, 6}},
		{ir.OpMax, []int{1}, sh(2, 1), []float64{3, 6}},
	}
	for _, c := range cases {
		e := newTB(t)
		v := e.p("x", sh(2, 3), x...)
		check(t, c.op, e.eval(e.b.Apply(c.op, ir.Attrs{{Key: "axes", Val: c.axes}}, v)), c.shape, c.want...)
	}
	// Max of all-negative rows: [[−3,−1],[−2,−5]] → [[−1],[−2]].
	e := newTB(t)
	v := e.p("x", sh(2, 2), -3, -1, -2, -5)
	check(t, "max negative", e.eval(e.b.Max(v, 1)), sh(2, 1), -1, -2)

	// Non-adjacent axes of x[a,b,c] = 4a + 2b + c + 1 (values 1..8) over {0, 2}:
	// b = 0: 1+2+5+6 = 14, b = 1: 3+4+7+8 = 22; means 3.5, 5.5; maxima 6, 8.
	for _, c := range []struct {
		op   string
		want []float64
	}{{ir.OpSum, []float64{14, 22}}, {ir.OpMean, []float64{3.5, 5.5}}, {ir.OpMax, []float64{6, 8}}} {
		e := newTB(t)
		v := e.p("x", sh(2, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8)
		check(t, c.op+" axes 0,2", e.eval(e.b.Apply(c.op, ir.Attrs{{Key: "axes", Val: []int{0, 2}}}, v)), sh(1, 2, 1), c.want...)
	}
}

func TestShapeOps(t *testing.T) {
	x := []float64{1, 2, 3, 4, 5, 6} // [[1,2,3],[4,5,6]]
	e := newTB(t)
	check(t, "reshape", e.eval(e.b.Reshape(e.p("x", sh(2, 3), x...), ir.Dims(3, 2))), sh(3, 2), x...)

	e = newTB(t)
	check(t, "transpose 2d", e.eval(e.b.Transpose(e.p("x", sh(2, 3), x...), 1, 0)), sh(3, 2), 1, 4, 2, 5, 3, 6)

	// Rank 3, perm [2,0,1] of x[a,b,c] = 100a + 10b + c with shape [2,3,4]:
	// out has shape [4,2,3] and out[i,j,k] = x[j,k,i], e.g. out[3,1,2] = 123.
	e = newTB(t)
	var d []float64
	for a := 0; a < 2; a++ {
		for b := 0; b < 3; b++ {
			for c := 0; c < 4; c++ {
				d = append(d, float64(100*a+10*b+c))
			}
		}
	}
	got := e.eval(e.b.Transpose(e.p("x", sh(2, 3, 4), d...), 2, 0, 1))
	if !slices.Equal(got.Shape, sh(4, 2, 3)) {
		t.Fatalf("transpose shape %v", got.Shape)
	}
	for i := 0; i < 4; i++ {
		for j := 0; j < 2; j++ {
			for k := 0; k < 3; k++ {
				if g, w := got.At(i, j, k), float64(100*j+10*k+i); g != w {
					t.Errorf("transpose out[%d,%d,%d] = %v, want %v", i, j, k, g, w)
				}
			}
		}
	}
	if got.At(3, 1, 2) != 123 {
		t.Errorf("transpose out[3,1,2] = %v, want 123", got.At(3, 1, 2))
	}

	e = newTB(t)
	check(t, "slice axis 1", e.eval(e.b.Slice(e.p("x", sh(2, 3), x...), 1, 1, 3)), sh(2, 2), 2, 3, 5, 6)
	e = newTB(t)
	check(t, "slice axis 0", e.eval(e.b.Slice(e.p("x", sh(2, 3), x...), 0, 1, 2)), sh(1, 3), 4, 5, 6)
	// Middle axis of x[a,b,c] (shape [2,3,4]) keeping b ∈ [1,2): values 10..13 and 110..113.
	e = newTB(t)
	check(t, "slice middle", e.eval(e.b.Slice(e.p("x", sh(2, 3, 4), d...), 1, 1, 2)), sh(2, 1, 4),
		10, 11, 12, 13, 110, 111, 112, 113)

	e = newTB(t)
	check(t, "broadcast column", e.eval(e.b.Broadcast(e.p("x", sh(2, 1), 1, 2), ir.Dims(2, 3))), sh(2, 3), 1, 1, 1, 2, 2, 2)
	e = newTB(t)
	check(t, "broadcast row", e.eval(e.b.Broadcast(e.p("x", sh(1, 2), 1, 2), ir.Dims(3, 2))), sh(3, 2), 1, 2, 1, 2, 1, 2)
}

func TestMatmul(t *testing.T) {
	// A = [[1,2,3],[4,5,6]], W = [[7,8],[9,10],[11,12]]:
	// A·W = [[1·7+2·9+3·11, 1·8+2·10+3·12], [4·7+5·9+6·11, 4·8+5·10+6·12]]
	//     = [[58, 64], [139, 154]].
	A := []float64{1, 2, 3, 4, 5, 6}
	e := newTB(t)
	check(t, "A·W", e.eval(e.b.Matmul(e.p("a", sh(2, 3), A...), e.p("w", sh(3, 2), 7, 8, 9, 10, 11, 12), false)),
		sh(2, 2), 58, 64, 139, 154)
	// The same with W given transposed: Wᵀ = [[7,9,11],[8,10,12]].
	e = newTB(t)
	check(t, "A·Wᵀ trans_b", e.eval(e.b.Matmul(e.p("a", sh(2, 3), A...), e.p("w", sh(2, 3), 7, 9, 11, 8, 10, 12), true)),
		sh(2, 2), 58, 64, 139, 154)
	// Shared weight with a batch: the second batch [[1,0,0],[0,1,−1]]·W =
	// [[7, 8], [9−11, 10−12]] = [[7, 8], [−2, −2]].
	e = newTB(t)
	a3 := e.p("a", sh(2, 2, 3), 1, 2, 3, 4, 5, 6, 1, 0, 0, 0, 1, -1)
	check(t, "shared", e.eval(e.b.Matmul(a3, e.p("w", sh(3, 2), 7, 8, 9, 10, 11, 12), false)),
		sh(2, 2, 2), 58, 64, 139, 154, 7, 8, -2, -2)
	// Batched: [[1,2],[3,4]]·[[5,6],[7,8]] = [[1·5+2·7, 1·6+2·8], [3·5+4·7, 3·6+4·8]]
	// = [[19, 22], [43, 50]], and [[1,0],[0,2]]·[[1,2],[3,4]] = [[1, 2], [6, 8]].
	e = newTB(t)
	check(t, "batched", e.eval(e.b.Matmul(
		e.p("a", sh(2, 2, 2), 1, 2, 3, 4, 1, 0, 0, 2),
		e.p("b", sh(2, 2, 2), 5, 6, 7, 8, 1, 2, 3, 4), false)),
		sh(2, 2, 2), 19, 22, 43, 50, 1, 2, 6, 8)
	// Batched trans_b: the same products with each b given transposed.
	e = newTB(t)
	check(t, "batched trans_b", e.eval(e.b.Matmul(
		e.p("a", sh(2, 2, 2), 1, 2, 3, 4, 1, 0, 0, 2),
		e.p("b", sh(2, 2, 2), 5, 7, 6, 8, 1, 3, 2, 4), true)),
		sh(2, 2, 2), 19, 22, 43, 50, 1, 2, 6, 8)
	// Rank-4 batched, non-square: a [1,2,1,3] rows [1,2,3] and [0,1,0];
	// b [1,2,3,1] columns [1,1,1]ᵀ and [2,0,−1]ᵀ → [[6]] and [[0]].
	e = newTB(t)
	check(t, "rank 4", e.eval(e.b.Matmul(
		e.p("a", sh(1, 2, 1, 3), 1, 2, 3, 0, 1, 0),
		e.p("b", sh(1, 2, 3, 1), 1, 1, 1, 2, 0, -1), false)),
		sh(1, 2, 1, 1), 6, 0)
}

func TestSoftmax(t *testing.T) {
	// Row [1,2,3]: subtracting the max 3 gives exp(−2) + exp(−1) + 1 =
	// 0.1353352832366127 + 0.36787944117144233 + 1 = 1.5032147244080551, so
	// softmax = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218]
	// and log_softmax = x − 3 − ln 1.5032147244080551 (= 0.4076059644443804).
	// Row [0,0,0]: 1/3 each, log −ln 3.
	e := newTB(t)
	x := e.p("x", sh(2, 3), 1, 2, 3, 0, 0, 0)
	check(t, "softmax", e.eval(e.b.Softmax(x)), sh(2, 3),
		0.09003057317038046, 0.24472847105479764, 0.6652409557748218, 1.0/3, 1.0/3, 1.0/3)
	e = newTB(t)
	x = e.p("x", sh(2, 3), 1, 2, 3, 0, 0, 0)
	check(t, "log_softmax", e.eval(e.b.LogSoftmax(x)), sh(2, 3),
		-2.4076059644443806, -1.4076059644443804, -0.4076059644443804, -math.Log(3), -math.Log(3), -math.Log(3))
	// Stability: [1000, 1000] is [½, ½] (naive exp overflows); [−1000, 0]
	// gives weight e^−1000 = 0 in float64 but an exact log_softmax of −1000.
	e = newTB(t)
	x = e.p("x", sh(2, 2), 1000, 1000, -1000, 0)
	check(t, "softmax large", e.eval(e.b.Softmax(x)), sh(2, 2), 0.5, 0.5, 0, 1)
	e = newTB(t)
	x = e.p("x", sh(2, 2), 1000, 1000, -1000, 0)
	check(t, "log_softmax large", e.eval(e.b.LogSoftmax(x)), sh(2, 2), -math.Ln2, -math.Ln2, -1000, 0)
}

func TestGatherPick(t *testing.T) {
	// table rows 0:[0,1] 1:[10,11] 2:[20,21] 3:[30,31]; ids [[3,0],[1,1]].
	e := newTB(t)
	table := e.p("emb", sh(4, 2), 0, 1, 10, 11, 20, 21, 30, 31)
	ids := e.idx("ids", sh(2, 2), 3, 0, 1, 1)
	check(t, "gather", e.eval(e.b.Gather(table, ids)), sh(2, 2, 2), 30, 31, 0, 1, 10, 11, 10, 11)

	// pick [[0.1,0.2,0.7],[0.5,0.3,0.2]] at [2, 0] → [0.7, 0.5].
	e = newTB(t)
	x := e.p("x", sh(2, 3), 0.1, 0.2, 0.7, 0.5, 0.3, 0.2)
	check(t, "pick", e.eval(e.b.Pick(x, e.idx("tgt", sh(2), 2, 0))), sh(2), 0.7, 0.5)
	// Rank 3: x[a,b,c] = 100a + 10b + c over [2,2,3] at [[1,2],[0,1]] → [[1, 12], [100, 111]].
	e = newTB(t)
	x = e.p("x", sh(2, 2, 3), 0, 1, 2, 10, 11, 12, 100, 101, 102, 110, 111, 112)
	check(t, "pick rank 3", e.eval(e.b.Pick(x, e.idx("tgt", sh(2, 2), 1, 2, 0, 1))), sh(2, 2), 1, 12, 100, 111)
}

func TestCausalMask(t *testing.T) {
	const m = CausalMaskValue
	e := newTB(t)
	x := e.p("x", sh(3, 3), 1, 2, 3, 4, 5, 6, 7, 8, 9)
	check(t, "mask 3×3", e.eval(e.b.CausalMask(x)), sh(3, 3), 1, m, m, 4, 5, m, 7, 8, 9)
	e = newTB(t)
	x = e.p("x", sh(2, 1, 2, 2), 1, 2, 3, 4, 5, 6, 7, 8)
	check(t, "mask batched", e.eval(e.b.CausalMask(x)), sh(2, 1, 2, 2), 1, m, 3, 4, 5, m, 7, 8)
	if m != -1e9 {
		t.Errorf("mask value %v, want -1e9", m)
	}
}

func TestRopeByHand(t *testing.T) {
	// x [1,2,4], base 100, D = 4: frequencies base^(−2i/D) are 1 (i = 0)
	// and 100^(−1/2) = 0.1 (i = 1). Position 0 is unchanged.
	// Position 1, row [1,2,3,4]:
	//   pair (x0, x2) = (1, 3), θ = 1:
	//     (cos1 − 3 sin1, sin1 + 3 cos1) = (0.5403023 − 2.5244130, 0.8414710 + 1.6209069)
	//     = (−1.9841106485555495, 2.4623779024123156)
	//   pair (x1, x3) = (2, 4), θ = 0.1:
	//     (2 cos0.1 − 4 sin0.1, 2 sin0.1 + 4 cos0.1) = (1.9900083 − 0.3993337, 0.1996668 + 3.9800167)
	//     = (1.590674663968739, 4.17968349440576)
	e := newTB(t)
	x := e.p("x", sh(1, 2, 4), 5, 6, 7, 8, 1, 2, 3, 4)
	check(t, "rope", e.eval(e.b.Rope(x, 100)), sh(1, 2, 4),
		5, 6, 7, 8, -1.9841106485555495, 1.590674663968739, 2.4623779024123156, 4.17968349440576)
}

func TestRopeDirectFormula(t *testing.T) {
	// Rank 4 [2,3,5,6]: the position is the second-to-last index (0..4),
	// independent of the two leading axes.
	const A, H, T, D = 2, 3, 5, 6
	base := 10000.0
	data := make([]float64, A*H*T*D)
	for i := range data {
		data[i] = math.Sin(float64(i)*0.37) + 0.1*float64(i%7)
	}
	e := newTB(t)
	got := e.eval(e.b.Rope(e.p("x", sh(A, H, T, D), data...), base))
	in := &Tensor{Shape: sh(A, H, T, D), Data: data}
	for a := 0; a < A; a++ {
		for h := 0; h < H; h++ {
			for tt := 0; tt < T; tt++ {
				for i := 0; i < D/2; i++ {
					theta := float64(tt) * math.Pow(base, -2*float64(i)/D)
					x1, x2 := in.At(a, h, tt, i), in.At(a, h, tt, i+D/2)
					w1 := x1*math.Cos(theta) - x2*math.Sin(theta)
					w2 := x1*math.Sin(theta) + x2*math.Cos(theta)
					if g := got.At(a, h, tt, i); !closeTo(g, w1) {
						t.Errorf("[%d,%d,%d,%d] = %v, want %v", a, h, tt, i, g, w1)
					}
					if g := got.At(a, h, tt, i+D/2); !closeTo(g, w2) {
						t.Errorf("[%d,%d,%d,%d] = %v, want %v", a, h, tt, i+D/2, g, w2)
					}
				}
			}
		}
	}
}

// tinyLM builds: logits = gather(emb, tokens)·W, loss = −mean(pick(log_softmax(logits), targets)).
func tinyLM(t *testing.T) *tb {
	e := newTB(t, "B", "T")
	emb := e.b.Param("emb", ir.Dims(3, 2), ir.Init{Kind: "zeros"}, false)
	w := e.b.Param("w", ir.Dims(2, 3), ir.Init{Kind: "zeros"}, true)
	bt := ir.Shape{ir.S("B"), ir.S("T")}
	tok := e.b.Input("tokens", ir.Type{DType: ir.I32, Shape: bt})
	tgt := e.b.Input("targets", ir.Type{DType: ir.I32, Shape: bt})
	logits := e.b.Matmul(e.b.Gather(emb, tok), w, false)
	lp := e.b.Pick(e.b.LogSoftmax(logits), tgt)
	e.b.Output("loss", e.b.Neg(e.b.Mean(lp, 0, 1)))
	if err := e.b.Err(); err != nil {
		t.Fatal(err)
	}
	e.params["emb"] = []float64{1, 0, 0, 1, 1, 1}
	e.params["w"] = []float64{1, 0, 0, 0, 0, 1}
	e.inputs["tokens"] = []int{1, 2}
	e.inputs["targets"] = []int{2, 1}
	e.binds["B"], e.binds["T"] = 1, 2
	return e
}

func TestTinyLMLoss(t *testing.T) {
	// emb = [[1,0],[0,1],[1,1]], W = [[1,0,0],[0,0,1]].
	// token 1 → [0,1]·W = [0,0,1]; log_softmax(.)[2] = 1 − ln(2 + e) = −0.5514447139320509.
	// token 2 → [1,1]·W = [1,0,1]; log_softmax(.)[1] = 0 − ln(2e + 1) = −1.861994804058251.
	// loss = (0.5514447139320509 + 1.861994804058251)/2 = 1.2067197589951508.
	e := tinyLM(t)
	out, err := Eval(e.b.M, e.binds, e.params, e.inputs)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "loss", out["loss"], sh(1, 1), 1.2067197589951508)

	all, err := EvalAll(e.b.M, e.binds, e.params, e.inputs)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(e.b.M.Values) {
		t.Fatalf("EvalAll returned %d values for %d IR values", len(all), len(e.b.M.Values))
	}
	// %4 is the gather: rows 1 and 2 of emb.
	check(t, "gather value", all[4], sh(1, 2, 2), 0, 1, 1, 1)
	// Results never alias the caller's parameters.
	all[0].Data[0] = 99
	if e.params["emb"][0] != 1 {
		t.Error("mutating a result changed the caller's parameter")
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(e *tb)
		want   []string
	}{
		{"missing param", func(e *tb) { delete(e.params, "w") }, []string{`param "w"`, "no values"}},
		{"short param", func(e *tb) { e.params["emb"] = []float64{1, 2} }, []string{`param "emb"`, "got 2 values, want 6"}},
		{"missing input", func(e *tb) { delete(e.inputs, "targets") }, []string{`input "targets"`, "no values"}},
		{"wrong input length", func(e *tb) { e.binds["T"] = 3 }, []string{`input "tokens"`, "got 2 values, want 3"}},
		{"unbound symbol", func(e *tb) { delete(e.binds, "T") }, []string{"T is not bound"}},
		{"token out of range", func(e *tb) { e.inputs["tokens"] = []int{1, 3} }, []string{"gather", "index 3 out of range [0, 3)"}},
		{"target out of range", func(e *tb) { e.inputs["targets"] = []int{-1, 0} }, []string{"pick", "index -1 out of range"}},
	}
	for _, c := range cases {
		e := tinyLM(t)
		c.mutate(e)
		_, err := Eval(e.b.M, e.binds, e.params, e.inputs)
		if err == nil {
			t.Errorf("%s: Eval succeeded", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", c.name, err, w)
			}
		}
	}

	// Malformed modules: an unknown op, an argument defined later, and a
	// value whose declared type disagrees with what the op computes.
	e := newTB(t)
	x := e.p("x", sh(2), 1, 2)
	e.b.M.Values = append(e.b.M.Values, &ir.Value{Op: "frobnicate", Args: []*ir.Value{x}, Type: x.Type})
	e.evalErr(e.b.M.Values[1], "unknown op")

	e = newTB(t)
	later := &ir.Value{Op: ir.OpNeg, Type: ir.Type{Shape: ir.Dims(2)}}
	use := &ir.Value{Op: ir.OpNeg, Args: []*ir.Value{later}, Type: ir.Type{Shape: ir.Dims(2)}}
	e.b.M.Values = append(e.b.M.Values, use, later)
	e.evalErr(use, "%0", "not defined before its use")

	e = newTB(t)
	x = e.p("x", sh(2), 1, 2)
	e.b.M.Values = append(e.b.M.Values, &ir.Value{Op: ir.OpNeg, Args: []*ir.Value{x}, Type: ir.Type{Shape: ir.Dims(3)}})
	e.evalErr(e.b.M.Values[1], "computed shape [2]", "[3]")

	if _, err := Eval(nil, nil, nil, nil); err == nil {
		t.Error("Eval(nil) succeeded")
	}
}

// BenchmarkEvalMLP evaluates a model with ~50k-element tensors: tokens
// [8,64] → embedding [256,64] → [8,64,64]·[64,256] logits (131k values).
func BenchmarkEvalMLP(b *testing.B) {
	bl := ir.NewBuilder("bench.mhc", "B", "T")
	emb := bl.Param("emb", ir.Dims(256, 64), ir.Init{Kind: "zeros"}, false)
	w := bl.Param("w", ir.Dims(64, 256), ir.Init{Kind: "zeros"}, true)
	bt := ir.Shape{ir.S("B"), ir.S("T")}
	tok := bl.Input("tokens", ir.Type{DType: ir.I32, Shape: bt})
	tgt := bl.Input("targets", ir.Type{DType: ir.I32, Shape: bt})
	h := bl.Tanh(bl.Gather(emb, tok))
	lp := bl.Pick(bl.LogSoftmax(bl.Matmul(h, w, false)), tgt)
	bl.Output("loss", bl.Neg(bl.Mean(lp, 0, 1)))
	if err := bl.Err(); err != nil {
		b.Fatal(err)
	}
	params := map[string][]float64{"emb": make([]float64, 256*64), "w": make([]float64, 64*256)}
	for _, p := range params {
		for i := range p {
			p[i] = math.Sin(float64(i))
		}
	}
	tokens, targets := make([]int, 8*64), make([]int, 8*64)
	for i := range tokens {
		tokens[i], targets[i] = i%256, (i*7)%256
	}
	inputs := map[string][]int{"tokens": tokens, "targets": targets}
	binds := map[string]int{"B": 8, "T": 64}
	for b.Loop() {
		if _, err := Eval(bl.M, binds, params, inputs); err != nil {
			b.Fatal(err)
		}
	}
}
