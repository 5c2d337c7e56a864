package etf

import "slices"

func slicesSortPairs(s []Pair, cmp func(a, b Pair) int) {
	slices.SortFunc(s, cmp)
}
