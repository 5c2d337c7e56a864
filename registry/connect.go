package registry

import (
	"github.com/distribute-go/distribute"

	"slices"

	"github.com/distribute-go/distribute/etf"
)

// The connect protocol of the core: a connect with each peer (init_connect
// to resolved), the casts and plain messages of global, and the loss of a
// node with prevent_overlapping_partitions. Like core.go it does no I/O.

// nodeUp starts a connect with a visible node that came up.
func (c *core) nodeUp(n distribute.Atom) {
	if c.known[n] != 0 || c.attempts[n] != nil || n == c.me {
		return
	}
	c.startAttempt(n)
}

// startAttempt creates my tag, casts init_connect and replays a stashed
// init_connect of the peer.
func (c *core) startAttempt(n distribute.Atom) {
	tag := c.nextTag()
	c.attempts[n] = &attempt{myTag: tag}
	pre, hasPre := c.pre[n]
	delete(c.pre, n)
	c.cast(n, etf.Tuple{aInitConnect, etf.Tuple{int64(ProtocolVersion), tag}, c.me,
		etf.Tuple{aLocker, aNoLongerAPid, etf.Map{}, c.lockerPid}})
	if hasPre {
		c.initConnect(pre)
	}
}

// cancelAttempt is cancel_locker + reset_node_state.
func (c *core) cancelAttempt(n distribute.Atom, sendCancel bool) {
	a := c.attempts[n]
	if a == nil {
		return
	}
	delete(c.attempts, n)
	if a.resolving {
		c.emit(stopResolveEff{node: n})
	}
	c.emit(lockerEff{ev: lkCancel{node: n, tag: a.myTag}})
	if sendCancel && a.pending && a.hisVsn >= 8 {
		c.send(n, etf.Tuple{aCancelConnect, c.me, a.hisTag})
	}
}

func (c *core) restartAttempt(n distribute.Atom) {
	c.cancelAttempt(n, false)
	if c.connected(n) {
		c.startAttempt(n)
	}
}

// initConnect handles {init_connect, {Vsn, HisTag}, Node, InitMsg}.
func (c *core) initConnect(t etf.Tuple) error {
	if len(t) != 4 {
		return bad("init_connect arity")
	}
	vt, ok := t[1].(etf.Tuple)
	if !ok || len(vt) < 2 {
		return bad("init_connect version")
	}
	vsn, ok := vt[0].(int64)
	if !ok || vsn < 5 {
		return bad("init_connect version")
	}
	n, ok := t[2].(distribute.Atom)
	if !ok || n == c.me || n == "" {
		return bad("init_connect node")
	}
	im, ok := t[3].(etf.Tuple)
	if !ok || len(im) != 4 || im[0] != aLocker {
		return bad("init_connect locker")
	}
	hisLocker, ok := im[3].(distribute.Pid)
	if !ok || hisLocker.Node != n {
		return bad("init_connect locker pid")
	}
	hisTag := vt[1]
	a := c.attempts[n]
	if a == nil {
		if c.connected(n) {
			c.pre[n] = t // replayed on its nodeup; junk from strangers is not kept
		}
		return nil
	}
	if a.pending {
		if vsn >= 8 {
			c.send(n, etf.Tuple{aCancelConnect, c.me, hisTag})
			c.restartAttempt(n)
		} else {
			c.emit(disconnectEff{node: n})
		}
		return nil
	}
	vsnUsed := int(min(vsn, ProtocolVersion))
	a.pending = true
	a.hisTag = hisTag
	a.hisVsn = vsnUsed
	a.hisLocker = hisLocker
	c.emit(lockerEff{ev: lkHis{h: him{node: n, locker: hisLocker, vsn: vsnUsed, myTag: a.myTag, hisTag: hisTag}}})
	if vsn >= 8 {
		c.send(n, etf.Tuple{aInitConnectAck, c.me, hisTag, a.myTag})
	}
	return nil
}

// lockIsSet is the locker's word that the lock for the connect with node
// is held on both sides: send our names and resolve once his are in.
func (c *core) lockIsSet(node distribute.Atom, tag, lockID distribute.Term) {
	a := c.attempts[node]
	if a == nil || !etf.Equal(a.myTag, tag) {
		return
	}
	a.lockSet = true
	a.lockID = lockID
	c.cast(node, etf.Tuple{aExchange, c.me, c.namesList(), etf.List{}, a.hisTag})
	c.maybeResolve(node)
}

// maybeResolve starts the resolver once the lock is set and his names are
// in.
func (c *core) maybeResolve(n distribute.Atom) {
	a := c.attempts[n]
	if a == nil || !a.lockSet || !a.gotExch || a.resolving {
		return
	}
	a.resolving = true
	mine := make(map[string]entry, len(c.names))
	for k, e := range c.names {
		mine[k] = *e
	}
	c.emit(resolveEff{node: n, tag: a.myTag, his: a.hisNames, mine: mine})
}

// exchangeOps takes the resolver's result for the connect with node: cast
// resolved and finish once his resolved is in.
func (c *core) exchangeOps(node distribute.Atom, tag distribute.Term, ops, resolved etf.List) {
	a := c.attempts[node]
	if a == nil || !etf.Equal(a.myTag, tag) {
		return
	}
	a.ops = ops
	a.opsReady = true
	myKnown := etf.List{}
	for _, k := range c.knownAtoms() {
		if k != node {
			myKnown = append(myKnown, etf.Tuple{k, int64(c.known[k])})
		}
	}
	c.cast(node, etf.Tuple{aResolved, c.me, resolved, myKnown, aUnused, etf.List{}, a.hisTag})
	c.maybeFinish(node)
}

// maybeFinish is resolved/5 of global.erl, run when both my ops and the
// peer's resolved list are in.
func (c *core) maybeFinish(n distribute.Atom) {
	a := c.attempts[n]
	if a == nil || !a.opsReady || !a.gotResolve {
		return
	}
	delete(c.attempts, n)
	if a.resolving {
		c.emit(stopResolveEff{node: n})
	}
	oldKnown := c.knownAtoms()
	ops := append(slices.Clone(a.ops), a.hisResolv...)
	vsn := a.hisVsn
	newNodes := etf.List{etf.Tuple{n, int64(vsn)}}
	for _, k := range a.hisKnown {
		newNodes = append(newNodes, etf.Tuple{k, int64(ProtocolVersion)})
	}
	extra := etf.List{etf.Tuple{aVsn, int64(vsn)}, etf.Tuple{aLock, a.lockID}}

	// Known first: the inserted pids' nodes are then ones a monitor may
	// connect to.
	c.known[n] = max(vsn, 1)
	for _, k := range a.hisKnown {
		if k != c.me && c.known[k] == 0 {
			c.known[k] = ProtocolVersion
		}
	}
	c.emit(syncEff{nodes: a.hisKnown})
	c.doOps(ops, n, extra)
	// As cancel_resolved_locker: {pending, K} is dropped first, so no
	// cancel_connect goes to the nodes we were just introduced to (OTP 27
	// restarts its connect on one, and the name ops of this merge can be
	// lost on that node).
	for _, k := range a.hisKnown {
		c.cancelAttempt(k, false)
	}
	// The locker tells my old partition before it releases the lock.
	msg := etf.Tuple{aGenCast, etf.Tuple{aNewNodes, c.me, ops, etf.List{}, newNodes, extra}}
	then := make([]sendEff, len(oldKnown))
	for i, k := range oldKnown {
		then[i] = sendEff{node: k, msg: msg}
	}
	c.emit(lockerEff{ev: lkCancel{node: n, tag: a.myTag, then: then}})
	c.synced[n] = true
	c.changed = true
}

// doOps applies [{insert, {Name, Pid, Method}} | {delete, Name}].
func (c *core) doOps(ops etf.List, from distribute.Atom, extra distribute.Term) {
	for _, o := range ops {
		t, ok := o.(etf.Tuple)
		if !ok || len(t) != 2 {
			continue
		}
		switch t[0] {
		case aInsert:
			if e, ok := t[1].(etf.Tuple); ok && len(e) == 3 {
				if pid, ok := e[1].(distribute.Pid); ok {
					c.insertName(e[0], pid, e[2], from, extra)
				}
			}
		case aDelete:
			c.deleteName(t[1])
		}
	}
}

// parseNodes reads a known list: [{Node, Vsn}] or [Node].
func parseNodes(t distribute.Term) ([]distribute.Atom, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	out := make([]distribute.Atom, 0, len(l))
	for _, e := range l {
		switch v := e.(type) {
		case distribute.Atom:
			out = append(out, v)
		case etf.Tuple:
			if len(v) != 2 {
				return nil, false
			}
			a, ok := v[0].(distribute.Atom)
			if !ok {
				return nil, false
			}
			out = append(out, a)
		default:
			return nil, false
		}
	}
	return out, true
}

func parseNames(t distribute.Term) ([]entry, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	out := make([]entry, 0, len(l))
	for _, e := range l {
		tu, ok := e.(etf.Tuple)
		if !ok || len(tu) != 3 {
			return nil, false
		}
		pid, ok := tu[1].(distribute.Pid)
		if !ok {
			return nil, false
		}
		out = append(out, entry{name: tu[0], pid: pid, method: tu[2]})
	}
	return out, true
}

func validOps(t distribute.Term) (etf.List, bool) {
	l, ok := t.(etf.List)
	if !ok {
		return nil, false
	}
	for _, o := range l {
		tu, ok := o.(etf.Tuple)
		if !ok || len(tu) != 2 {
			return nil, false
		}
		switch tu[0] {
		case aInsert:
			e, ok := tu[1].(etf.Tuple)
			if !ok || len(e) != 3 {
				return nil, false
			}
			if _, ok := e[1].(distribute.Pid); !ok {
				return nil, false
			}
		case aDelete:
		default:
			return nil, false
		}
	}
	return l, true
}

// handleCast handles the cast req ({'$gen_cast', Req} to the gns). A
// message of the wrong shape is an ErrBadMessage and changes nothing.
func (c *core) handleCast(req distribute.Term) error {
	t, ok := req.(etf.Tuple)
	if !ok || len(t) == 0 {
		return bad("cast is not a tuple")
	}
	switch t[0] {
	case aInitConnect:
		return c.initConnect(t)
	case aLockSet:
		// {lock_set, LockerPid, IsSet, Known, HisTag} (vsn 8) or 4-tuple.
		if len(t) != 5 && len(t) != 4 {
			return bad("lock_set arity")
		}
		lp, ok := t[1].(distribute.Pid)
		if !ok {
			return bad("lock_set pid")
		}
		isSet, ok := t[2].(distribute.Atom)
		if !ok || (isSet != etf.True && isSet != etf.False) {
			return bad("lock_set flag")
		}
		var tag distribute.Term
		if len(t) == 5 {
			tag = t[4]
			a := c.attempts[lp.Node]
			if a == nil || !etf.Equal(a.myTag, tag) {
				return nil
			}
		}
		c.emit(lockerEff{ev: lkLockSet{from: lp, isSet: isSet == etf.True, tag: tag}})
		return nil
	case aExchange:
		if len(t) != 5 {
			return bad("exchange arity")
		}
		n, ok := t[1].(distribute.Atom)
		if !ok {
			return bad("exchange node")
		}
		names, ok := parseNames(t[2])
		if !ok {
			return bad("exchange names")
		}
		a := c.attempts[n]
		if a == nil || !etf.Equal(a.myTag, t[4]) || a.gotExch {
			return nil
		}
		a.hisNames = names
		a.gotExch = true
		c.maybeResolve(n)
		return nil
	case aResolved:
		if len(t) != 7 {
			return bad("resolved arity")
		}
		n, ok := t[1].(distribute.Atom)
		if !ok {
			return bad("resolved node")
		}
		ops, ok := validOps(t[2])
		if !ok {
			return bad("resolved ops")
		}
		hisKnown, ok := parseNodes(t[3])
		if !ok {
			return bad("resolved known")
		}
		a := c.attempts[n]
		if a == nil || !etf.Equal(a.myTag, t[6]) || a.gotResolve {
			return nil
		}
		a.hisResolv = ops
		a.hisKnown = hisKnown
		a.gotResolve = true
		c.maybeFinish(n)
		return nil
	case aNewNodes:
		if len(t) != 6 {
			return bad("new_nodes arity")
		}
		from, ok := t[1].(distribute.Atom)
		if !ok {
			return bad("new_nodes node")
		}
		ops, ok := validOps(t[2])
		if !ok {
			return bad("new_nodes ops")
		}
		nodes, ok := parseNodes(t[4])
		if !ok {
			return bad("new_nodes nodes")
		}
		if c.known[from] == 0 && c.attempts[from] == nil {
			return bad("new_nodes from a node outside the cluster")
		}
		var added []distribute.Atom
		for _, n := range nodes {
			if n != c.me && c.known[n] == 0 && !slices.Contains(added, n) {
				added = append(added, n)
			}
		}
		for _, n := range added {
			c.known[n] = ProtocolVersion
		}
		c.changed = true
		c.emit(syncEff{nodes: added})
		c.doOps(ops, from, t[5])
		return nil
	case aInSync:
		if len(t) != 3 {
			return bad("in_sync arity")
		}
		n, ok := t[1].(distribute.Atom)
		if !ok || n == c.me || !c.connected(n) {
			return bad("in_sync node")
		}
		// As OTP 25+'s in_sync: {pending, N} is dropped before the
		// locker is canceled, so no cancel_connect goes to N. One would
		// make an OTP 27 node restart its connect with us, drop the names
		// of our node it just learnt through new_nodes, and send an
		// init_connect we ignore (it knows us already): the names stay
		// lost there.
		c.cancelAttempt(n, false)
		c.synced[n] = true
		c.changed = true
		return nil
	}
	return bad("unknown cast")
}

// handleInfo handles a plain message to the gns.
func (c *core) handleInfo(m distribute.Term) error {
	t, ok := m.(etf.Tuple)
	if !ok || len(t) == 0 {
		return bad("not a tuple")
	}
	switch t[0] {
	case aInitConnectAck:
		if len(t) != 4 {
			return bad("init_connect_ack arity")
		}
		n, ok := t[1].(distribute.Atom)
		if !ok {
			return bad("init_connect_ack node")
		}
		a := c.attempts[n]
		if a == nil || !etf.Equal(a.myTag, t[2]) {
			return nil // an old ack
		}
		if !a.pending || !etf.Equal(a.hisTag, t[3]) {
			c.send(n, etf.Tuple{aCancelConnect, c.me, t[3]})
			c.restartAttempt(n)
		}
		return nil
	case aCancelConnect:
		if len(t) != 3 {
			return bad("cancel_connect arity")
		}
		n, ok := t[1].(distribute.Atom)
		if !ok {
			return bad("cancel_connect node")
		}
		if a := c.attempts[n]; a != nil && etf.Equal(a.myTag, t[2]) {
			c.restartAttempt(n)
		}
		return nil
	case aLostConnection:
		return c.lostConnection(t)
	case aRemoveConn:
		if len(t) != 2 {
			return bad("remove_connection arity")
		}
		r, ok := t[1].(distribute.Atom)
		if !ok {
			return bad("remove_connection node")
		}
		if !c.knownOrPending(r) || !c.pop {
			return nil
		}
		c.nodeGone(r, true)
		c.emit(disconnectEff{node: r, cut: true})
		return nil
	}
	return bad("unknown message")
}

// knownOrPending reports whether n is known or has answered our connect.
func (c *core) knownOrPending(n distribute.Atom) bool {
	a := c.attempts[n]
	return c.known[n] != 0 || (a != nil && a.pending)
}

// nodeGone is handle_nodedown: forget the node; removing marks a
// disconnect we asked for.
func (c *core) nodeGone(n distribute.Atom, removing bool) {
	c.cancelAttempt(n, true)
	c.emit(lockerEff{ev: lkForget{node: n}})
	delete(c.known, n)
	delete(c.synced, n)
	if removing {
		c.removing[n] = true
	}
	c.changed = true
}

// nodeDown handles the loss of the connection to n: its pids' names and
// locks go, and (prevent_overlapping_partitions) every other node of the
// cluster hears of it, unless we cut the connection on purpose.
func (c *core) nodeDown(n distribute.Atom) {
	wasRemoving := c.removing[n]
	delete(c.removing, n)
	delete(c.pre, n)
	c.dropNode(n)
	if !wasRemoving && c.pop {
		c.opID++
		msg := etf.Tuple{aLostConnection, c.me, c.xcre, c.opID, n}
		for _, k := range c.popTargets(n) {
			c.send(k, msg)
		}
	}
	c.nodeGone(n, false)
}

// popTargets are the known and pending nodes except skip, sorted.
func (c *core) popTargets(skip distribute.Atom) []distribute.Atom {
	var out []distribute.Atom
	for k, v := range c.known {
		if k != skip && v >= 7 {
			out = append(out, k)
		}
	}
	for k, a := range c.attempts {
		if k != skip && a.pending && a.hisVsn >= 7 && c.known[k] == 0 {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// lostConnection handles {lost_connection, A, XCreation, OpId, B}: pass it
// on once, and if B is this node, ask A to disconnect from us.
func (c *core) lostConnection(t etf.Tuple) error {
	if len(t) != 5 {
		return bad("lost_connection arity")
	}
	a, ok1 := t[1].(distribute.Atom)
	b, ok2 := t[4].(distribute.Atom)
	if !ok1 || !ok2 {
		return bad("lost_connection nodes")
	}
	if !c.pop {
		return nil
	}
	xcre, opID := t[2], t[3]
	key := [2]distribute.Atom{a, b}
	if r, ok := c.lost[key]; ok && etf.Equal(r.xcre, xcre) && etf.Compare(r.opID, opID) >= 0 {
		return nil
	}
	if len(c.lost) >= maxLost {
		clear(c.lost) // Erlang forgets them after an hour; junk must not grow it
	}
	c.lost[key] = lostRec{xcre: xcre, opID: opID}
	for _, k := range c.popTargets(a) {
		c.send(k, t)
	}
	rm := b
	if b == c.me {
		rm = a
	}
	if c.knownOrPending(rm) && rm != c.me {
		c.emit(warnEff{msg: "registry: requested disconnect to prevent overlapping partitions", node: rm})
		c.send(rm, etf.Tuple{aRemoveConn, c.me})
		c.nodeGone(rm, true)
	}
	return nil
}
