module github.com/distribute-go/distribute

go 1.26
