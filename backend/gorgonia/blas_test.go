package gorgonia

import "testing"

func TestBLASName(t *testing.T) {
	name := BLASName()
	if name == "" {
		t.Fatal("empty BLAS name")
	}
	t.Logf("BLAS: %s", name)
	if blasBuild != "openblas" && useCSgemm() && cSgemmOK && name != "native AVX2 sgemm (cgo)" {
		t.Errorf("native kernel active but BLASName() = %q", name)
	}
}
