package kernels

import (
	"runtime"
	"slices"
	"testing"
)

// TestPackBuffersSurviveCollections: the packed-B buffers are reused
// after collections (a sync.Pool dropped them at every one), a request
// takes the smallest free buffer that holds it, and a request that no free
// buffer holds replaces the largest of them, so the list never holds more
// buffers than were in use at once.
func TestPackBuffersSurviveCollections(t *testing.T) {
	var p packBuffers
	big := p.get(1000)
	p.Put(big)
	runtime.GC()
	runtime.GC()
	if got := p.get(500); got != big || len(*got) != 500 {
		t.Fatalf("after two collections: got a new buffer (len %d), want the kept one of cap 1000 resliced to 500", len(*got))
	} else {
		p.Put(got)
	}

	// two in use at once, then a request neither holds
	a, b := p.get(100), p.get(200)
	if a != big {
		t.Fatalf("get(100) with one free buffer of 1000: want it reused")
	}
	p.Put(a)
	p.Put(b)
	small := p.get(150) // the smallest that holds 150: b (200), not a (1000)
	if small != b {
		t.Fatalf("get(150) from free caps {1000, 200}: got cap %d, want the 200", cap(*small))
	}
	p.Put(small)
	huge := p.get(5000) // none holds it: the largest (1000) is replaced
	p.Put(huge)
	var caps []int
	for _, f := range p.free {
		caps = append(caps, cap(*f))
	}
	slices.Sort(caps)
	if !slices.Equal(caps, []int{200, 5000}) {
		t.Fatalf("free caps after a request of 5000: %v, want [200 5000]", caps)
	}
}
