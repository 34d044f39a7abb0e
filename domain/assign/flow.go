package assign

import "math"

// The network: source → application (capacity N) → expert (capacity 1, one edge
// per eligible pair, so experts are distinct) → sink (capacity: the expert's
// load). An edge's cost is MaxLevel − level, never negative, so the first
// shortest-path search needs no Bellman-Ford; with the total flow fixed at N per
// application, the least cost is the greatest total level.
//
// It is solved by successive shortest paths with node potentials (Dijkstra on
// reduced costs). Each phase augments along every shortest path at once, as a
// maximum flow over the zero-reduced-cost edges (Dinic's algorithm), because a
// national batch needs about 18,000 units of flow and one Dijkstra per unit
// would take hours. The costs are small integers, so there are few phases.

// builder collects the eligible pairs, application by application.
type builder struct {
	apps, experts int
	app, expert   []int32 // the pairs, in application order
	cost          []int32
	first         []int32 // first[ai] is the index of application ai's first pair
}

func newBuilder(apps, experts int) *builder {
	return &builder{apps: apps, experts: experts, first: make([]int32, apps+1)}
}

// edge records that expert k, of the given level, is eligible for application
// ai. Calls come in application order.
func (b *builder) edge(ai, k, level int) {
	b.app = append(b.app, int32(ai))
	b.expert = append(b.expert, int32(k))
	b.cost = append(b.cost, int32(MaxLevel-level))
	b.first[ai+1] = int32(len(b.app))
}

// flow is the residual network in compressed adjacency form. Edge 2i is a
// forward edge and 2i+1 its reverse, so e^1 pairs them.
type flow struct {
	apps, experts int
	s, t          int32
	head          []int32 // adjacency of node u: adj[head[u]:head[u+1]]
	adj           []int32
	to, cap, cost []int32
	pot           []int64
	pairFirst     []int32 // application ai's pair edges are forward edges pairFirst[ai]..pairFirst[ai+1]
	loads         []int

	dist  []int64
	done  []bool
	level []int32
	iter  []int32
	queue []int32
	heap  []item
}

// build lays out the network; needs[ai] is how many experts application ai
// still needs.
func (b *builder) build(needs []int, loads []int) *flow {
	nodes := 2 + b.apps + b.experts
	edges := b.apps + len(b.app) + b.experts
	f := &flow{
		apps: b.apps, experts: b.experts,
		s: 0, t: int32(nodes - 1),
		head: make([]int32, nodes+1),
		adj:  make([]int32, 2*edges),
		to:   make([]int32, 2*edges), cap: make([]int32, 2*edges), cost: make([]int32, 2*edges),
		pot:   make([]int64, nodes),
		loads: loads,
		dist:  make([]int64, nodes), done: make([]bool, nodes),
		level: make([]int32, nodes), iter: make([]int32, nodes),
	}
	appNode := func(ai int32) int32 { return 1 + ai }
	expertNode := func(k int32) int32 { return 1 + int32(b.apps) + k }
	var from []int32 // tail of each forward edge, to lay out adjacency
	add := func(u, v int32, c, cost int32) {
		e := int32(len(from)) * 2
		from = append(from, u)
		f.to[e], f.cap[e], f.cost[e] = v, c, cost
		f.to[e+1], f.cap[e+1], f.cost[e+1] = u, 0, -cost
	}
	for ai := range int32(b.apps) {
		add(f.s, appNode(ai), int32(needs[ai]), 0)
	}
	f.pairFirst = make([]int32, b.apps+1)
	for ai := range b.apps + 1 {
		if ai > 0 {
			b.first[ai] = max(b.first[ai], b.first[ai-1]) // an application without pairs
		}
		f.pairFirst[ai] = int32(b.apps) + b.first[ai]
	}
	for i := range b.app {
		add(appNode(b.app[i]), expertNode(b.expert[i]), 1, b.cost[i])
	}
	for k := range int32(b.experts) {
		add(expertNode(k), f.t, int32(loads[k]), 0)
	}
	// Adjacency keeps edge creation order, which is id order: that order breaks
	// every tie, so the result depends on the ids alone.
	for i, u := range from {
		f.head[u+1]++
		f.head[f.to[2*i]+1]++
	}
	for u := range nodes {
		f.head[u+1] += f.head[u]
	}
	fill := make([]int32, nodes)
	copy(fill, f.head[:nodes])
	for i, u := range from {
		e := int32(2 * i)
		v := f.to[e]
		f.adj[fill[u]] = e
		fill[u]++
		f.adj[fill[v]] = e + 1
		fill[v]++
	}
	return f
}

// solve sends up to need units from source to sink at least cost and returns
// how many it sent: need itself unless the network cannot carry it.
func (f *flow) solve(need int) int {
	sent := 0
	for sent < need && f.shortestPaths() {
		for sent < need && f.levels() {
			copy(f.iter, f.head[:len(f.iter)])
			for sent < need {
				d := f.augment(f.s, int32(min(need-sent, math.MaxInt32)))
				if d == 0 {
					break
				}
				sent += int(d)
			}
		}
	}
	return sent
}

func (f *flow) reduced(u int32, e int32) int64 {
	return int64(f.cost[e]) + f.pot[u] - f.pot[f.to[e]]
}

// shortestPaths runs Dijkstra on reduced costs from the source and raises the
// potentials by the distances, capped at the sink's distance D, which keeps
// every residual reduced cost non-negative and makes every shortest path's
// edges exactly zero. It reports whether the sink is reachable.
func (f *flow) shortestPaths() bool {
	for i := range f.dist {
		f.dist[i], f.done[i] = math.MaxInt64, false
	}
	f.heap = f.heap[:0]
	f.dist[f.s] = 0
	f.push(item{0, f.s})
	reached := int64(-1)
	for len(f.heap) > 0 {
		it := f.pop()
		u := it.v
		if f.done[u] || it.d > f.dist[u] {
			continue
		}
		f.done[u] = true
		if u == f.t {
			reached = it.d
			break // nodes not settled yet are no nearer than the sink
		}
		for _, e := range f.adj[f.head[u]:f.head[u+1]] {
			if f.cap[e] == 0 {
				continue
			}
			v := f.to[e]
			if d := it.d + f.reduced(u, e); d < f.dist[v] {
				f.dist[v] = d
				f.push(item{d, v})
			}
		}
	}
	if reached < 0 {
		return false
	}
	for v := range f.pot {
		if f.done[v] {
			f.pot[v] += f.dist[v]
		} else {
			f.pot[v] += reached
		}
	}
	return true
}

// levels numbers nodes by BFS depth over admissible edges (residual capacity,
// zero reduced cost) and reports whether the sink is reachable through them.
func (f *flow) levels() bool {
	for i := range f.level {
		f.level[i] = -1
	}
	f.level[f.s] = 0
	q := append(f.queue[:0], f.s)
	for i := 0; i < len(q); i++ {
		u := q[i]
		for _, e := range f.adj[f.head[u]:f.head[u+1]] {
			v := f.to[e]
			if f.cap[e] > 0 && f.level[v] < 0 && f.reduced(u, e) == 0 {
				f.level[v] = f.level[u] + 1
				q = append(q, v)
			}
		}
	}
	f.queue = q
	return f.level[f.t] >= 0
}

// augment pushes up to limit units from u to the sink along admissible edges
// that go one level deeper, and returns how many it pushed.
func (f *flow) augment(u int32, limit int32) int32 {
	if u == f.t {
		return limit
	}
	pushed := int32(0)
	for ; f.iter[u] < f.head[u+1]; f.iter[u]++ {
		e := f.adj[f.iter[u]]
		v := f.to[e]
		if f.cap[e] == 0 || f.level[v] != f.level[u]+1 || f.reduced(u, e) != 0 {
			continue
		}
		if d := f.augment(v, min(limit-pushed, f.cap[e])); d > 0 {
			f.cap[e] -= d
			f.cap[e^1] += d
			pushed += d
			if pushed == limit {
				return pushed // the edge may have room left: keep iter on it
			}
		}
	}
	return pushed
}

// chosen returns the experts (sorted indexes) that review application ai.
func (f *flow) chosen(ai int) []int {
	var ks []int
	for i := f.pairFirst[ai]; i < f.pairFirst[ai+1]; i++ {
		if e := 2 * i; f.cap[e^1] > 0 {
			ks = append(ks, f.expertOf(e))
		}
	}
	return ks
}

// eligible returns the experts (sorted indexes) eligible for application ai.
func (f *flow) eligible(ai int) []int {
	ks := make([]int, 0, f.pairFirst[ai+1]-f.pairFirst[ai])
	for i := f.pairFirst[ai]; i < f.pairFirst[ai+1]; i++ {
		ks = append(ks, f.expertOf(2*i))
	}
	return ks
}

func (f *flow) expertOf(e int32) int { return int(f.to[e]) - 1 - f.apps }

// loadLimit explains a maximum flow short of the need. The nodes the source
// still reaches in the residual network form the unique smallest minimum cut:
// its applications S can only be served by the load of the reachable experts,
// all used by S already, plus one review each from the other experts S already
// uses; that falls short of N·|S| by exactly the missing flow.
func (f *flow) loadLimit(needs []int, id func(ai int) string) error {
	for i := range f.level {
		f.level[i] = -1
	}
	f.level[f.s] = 0
	q := append(f.queue[:0], f.s)
	for i := 0; i < len(q); i++ {
		u := q[i]
		for _, e := range f.adj[f.head[u]:f.head[u+1]] {
			if v := f.to[e]; f.cap[e] > 0 && f.level[v] < 0 {
				f.level[v] = 0
				q = append(q, v)
			}
		}
	}
	reach := func(u int32) bool { return f.level[u] >= 0 }
	var group []string
	available, need := 0, 0
	for k := range f.experts {
		if reach(int32(1 + f.apps + k)) {
			available += f.loads[k]
		}
	}
	for ai := range f.apps {
		if !reach(int32(1 + ai)) {
			continue
		}
		group = append(group, id(ai))
		need += needs[ai]
		for i := f.pairFirst[ai]; i < f.pairFirst[ai+1]; i++ {
			if e := 2 * i; f.cap[e^1] > 0 && !reach(f.to[e]) {
				available++
			}
		}
	}
	return loadLimit(group, need, available)
}

type item struct {
	d int64
	v int32
}

func (f *flow) push(it item) {
	h := append(f.heap, it)
	for i := len(h) - 1; i > 0; {
		p := (i - 1) / 2
		if h[p].d <= h[i].d {
			break
		}
		h[p], h[i] = h[i], h[p]
		i = p
	}
	f.heap = h
}

func (f *flow) pop() item {
	h := f.heap
	top := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	for i := 0; ; {
		l, m := 2*i+1, i
		if l < len(h) && h[l].d < h[m].d {
			m = l
		}
		if r := l + 1; r < len(h) && h[r].d < h[m].d {
			m = r
		}
		if m == i {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	f.heap = h
	return top
}
