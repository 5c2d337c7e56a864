package etf

import "slices"

func slicesSortPairs(s []Pair) {
	slices.SortFunc(s, func(a, b Pair) int { return compare(a.Key, b.Key, true) })
}
