package groups

import (
	"context"
	"errors"
	"fmt"

	"github.com/distribute-go/distribute"
	"github.com/distribute-go/distribute/etf"
)

// MemberError is the failure to send a broadcast to one member.
type MemberError struct {
	Pid distribute.Pid
	Err error
}

func (e *MemberError) Error() string {
	return fmt.Sprintf("groups: broadcast to %v: %v", e.Pid, e.Err)
}

func (e *MemberError) Unwrap() error { return e.Err }

// BroadcastResult says what a broadcast did.
type BroadcastResult struct {
	// Sent is the number of members the message was handed to (a local
	// mailbox or a connection). Like any send, it is no delivery receipt.
	Sent int
	// Failed lists the members it could not be handed to.
	Failed []*MemberError
}

// Err is nil when every send succeeded, else the errors.Join of Failed.
func (r BroadcastResult) Err() error {
	if len(r.Failed) == 0 {
		return nil
	}
	errs := make([]error, len(r.Failed))
	for i, e := range r.Failed {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Broadcast sends msg to every member of group on every node, once to
// each distinct pid, as one message frame per member. msg is converted to
// a term once (etf.ToTerm: a Go struct, map, slice or term-model value) and
// encoded once for all remote members,
// so a value that cannot be converted fails before anything is sent. A
// member that cannot be reached never stops the others: the result lists
// it, and the error is result.Err(). The sender is the scope process.
func (s *Scope) Broadcast(ctx context.Context, group any, msg any) (BroadcastResult, error) {
	return s.BroadcastFrom(ctx, s.proc, group, msg)
}

// BroadcastFrom is Broadcast with from as the sender.
func (s *Scope) BroadcastFrom(ctx context.Context, from *distribute.Process, group any, msg any) (BroadcastResult, error) {
	var res BroadcastResult
	term, err := etf.ToTerm(msg)
	if err != nil {
		return res, fmt.Errorf("groups: broadcast: %w", err)
	}
	members, dups := s.broadcastMembers(group)
	if dups {
		members = dedup(members)
	}
	// Remote members get the encoding made once; local ones the term
	// itself (a local send hands over the Go value).
	var raw etf.Raw
	local := from.Node().Name()
	for _, p := range members {
		var m etf.Term = term
		if p.Node != local {
			if raw.Bytes() == nil {
				if raw, err = etf.EncodeRaw(term); err != nil {
					return res, fmt.Errorf("groups: broadcast: %w", err)
				}
			}
			m = raw
		}
		if err := from.Send(ctx, p, m); err != nil {
			res.Failed = append(res.Failed, &MemberError{Pid: p, Err: err})
			continue
		}
		res.Sent++
	}
	return res, res.Err()
}

// broadcastMembers returns a copy of group's members and whether some pid
// is in it more than once.
func (s *Scope) broadcastMembers(group any) ([]distribute.Pid, bool) {
	var buf [64]byte
	key, ok := lookupKey(&buf, group)
	if !ok {
		return nil, false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if g := s.c.groups[string(key)]; g != nil {
		return append([]distribute.Pid(nil), g.all...), g.dups > 0
	}
	return nil, false
}

// dedup removes repeated pids (a pid that joined twice), keeping the first
// of each in place. It reuses members.
func dedup(members []distribute.Pid) []distribute.Pid {
	if len(members) < 2 {
		return members
	}
	if len(members) <= 16 {
		out := members[:0]
	outer:
		for _, p := range members {
			for _, q := range out {
				if q == p {
					continue outer
				}
			}
			out = append(out, p)
		}
		return out
	}
	seen := make(map[distribute.Pid]struct{}, len(members))
	out := members[:0]
	for _, p := range members {
		if _, ok := seen[p]; !ok {
			seen[p] = struct{}{}
			out = append(out, p)
		}
	}
	return out
}
