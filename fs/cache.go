package fs

import (
	"container/list"
	"sync"
)

// lru is a small byte-budgeted LRU cache, safe for concurrent use. It
// sits under the qcow2 reader (L2 tables, decompressed clusters) and the
// filesystem readers (metadata blocks) so that many small reads do not
// turn into many syscalls and repeated decompression.
type lru[K comparable, V any] struct {
	mu    sync.Mutex
	max   int64
	cur   int64
	ll    *list.List
	items map[K]*list.Element
	size  func(V) int64
}

type lruEntry[K comparable, V any] struct {
	key  K
	val  V
	cost int64
}

func newLRU[K comparable, V any](maxBytes int64, size func(V) int64) *lru[K, V] {
	return &lru[K, V]{max: maxBytes, ll: list.New(), items: map[K]*list.Element{}, size: size}
}

func (c *lru[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*lruEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

func (c *lru[K, V]) put(k K, v V) {
	cost := c.size(v) + 64 // bookkeeping overhead, so tiny values still count
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[k]; ok {
		old := e.Value.(*lruEntry[K, V])
		c.cur += cost - old.cost
		old.val, old.cost = v, cost
		c.ll.MoveToFront(e)
	} else {
		c.items[k] = c.ll.PushFront(&lruEntry[K, V]{key: k, val: v, cost: cost})
		c.cur += cost
	}
	for c.cur > c.max && c.ll.Len() > 1 {
		e := c.ll.Back()
		ent := e.Value.(*lruEntry[K, V])
		c.ll.Remove(e)
		delete(c.items, ent.key)
		c.cur -= ent.cost
	}
}

func bytesLen(b []byte) int64 { return int64(len(b)) }
