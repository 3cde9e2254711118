package apitest

import "testing"

// test is one test of the suite.
type test struct {
	name string
	run  func(t *testing.T, f Factory)
}

// suite lists the tests; each file of the package adds its own in init.
var suite []test

func register(name string, run func(t *testing.T, f Factory)) {
	suite = append(suite, test{name, run})
}

// Run runs the whole GraphQL API suite on the stores f makes.
func Run(t *testing.T, f Factory) {
	for _, tc := range suite {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, f) })
	}
}
