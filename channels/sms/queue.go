package sms

import (
	"time"
)

// enqueue puts jobs at the back of their level's queue.
func (c *Channel) enqueue(jobs ...*job) {
	if len(jobs) == 0 {
		return
	}
	c.qmu.Lock()
	for _, j := range jobs {
		c.queues[j.level].pushBack(j)
	}
	c.qmu.Unlock()
	c.wake()
}

// requeue puts jobs back at the front of their level (they were first).
func (c *Channel) requeue(jobs ...*job) {
	c.qmu.Lock()
	for _, j := range jobs {
		if !j.notBefore.IsZero() && time.Now().Before(j.notBefore) {
			c.delayed = append(c.delayed, j)
			continue
		}
		c.queues[j.level].pushFront(j)
	}
	c.qmu.Unlock()
	c.wake()
}

func (c *Channel) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *Channel) queueDepth(level int) int {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.queues[level].len()
}

// dispatchOne hands the first job of the highest level to its gateway and
// reports whether it did (false: nothing queued, or no gateway has room).
// The queue stays locked from look to removal: binds push retries to the
// front concurrently.
func (c *Channel) dispatchOne() bool {
	c.qmu.Lock()
	if len(c.delayed) > 0 {
		now := time.Now()
		kept := c.delayed[:0]
		for _, j := range c.delayed {
			if now.Before(j.notBefore) {
				kept = append(kept, j)
			} else {
				c.queues[j.level].pushFront(j)
			}
		}
		c.delayed = kept
	}
	var q *jobQueue
	for l := levels - 1; l >= 0; l-- {
		if c.queues[l].len() > 0 {
			q = &c.queues[l]
			break
		}
	}
	if q == nil {
		c.qmu.Unlock()
		return false
	}
	j := q.first()
	if j.b.isStopped() {
		q.popFront() // Send returned; its claim was released
		c.qmu.Unlock()
		return true
	}
	g := c.pick(j)
	if g == nil || len(g.inbox) == cap(g.inbox) {
		c.sticky = g // keep the weighted choice until it has room
		c.qmu.Unlock()
		return false
	}
	c.sticky = nil
	q.popFront()
	c.qmu.Unlock()
	g.inbox <- j // only the scheduler sends, and there is room
	return true
}

// jobQueue is a FIFO with cheap push to the front (retries go first).
type jobQueue struct {
	front []*job // stack: last element is first in line
	back  []*job
	head  int
}

func (q *jobQueue) len() int { return len(q.front) + len(q.back) - q.head }

func (q *jobQueue) pushBack(j *job) { q.back = append(q.back, j) }

func (q *jobQueue) pushFront(j *job) { q.front = append(q.front, j) }

func (q *jobQueue) first() *job {
	if n := len(q.front); n > 0 {
		return q.front[n-1]
	}
	if q.head < len(q.back) {
		return q.back[q.head]
	}
	return nil
}

func (q *jobQueue) popFront() {
	if n := len(q.front); n > 0 {
		q.front[n-1] = nil
		q.front = q.front[:n-1]
		return
	}
	q.back[q.head] = nil
	q.head++
	if q.head == len(q.back) {
		q.back, q.head = q.back[:0], 0
	} else if q.head > 1024 && q.head*2 > len(q.back) {
		n := copy(q.back, q.back[q.head:])
		clear(q.back[n:])
		q.back, q.head = q.back[:n], 0
	}
}
