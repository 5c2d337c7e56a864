package membership

const childEnv = "MEMBERSHIP_TEST_CHILD"

func runChild(name string) {}
