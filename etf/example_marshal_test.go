package etf_test

import (
	"fmt"

	"github.com/distribute-go/distribute/etf"
)

func ExampleMarshal() {
	type User struct {
		Name   string
		Age    int
		UserID int    `etf:"id"`
		Role   string `etf:"role,atom"`
		Email  string `etf:",omitempty"`
		Secret string `etf:"-"`
	}
	data, err := etf.Marshal(User{Name: "ann", Age: 42, UserID: 7, Role: "admin", Secret: "x"})
	if err != nil {
		panic(err)
	}
	// The bytes are what term_to_binary(#{name => <<"ann">>, age => 42,
	// id => 7, role => admin}, [{minor_version, 2}]) returns.
	fmt.Printf("%x\n", data)
	t, _ := etf.Decode(data)
	fmt.Println(etf.Format(t))
	// Output:
	// 8374000000047703616765612a77026964610777046e616d656d00000003616e6e7704726f6c65770561646d696e
	// #{age => 42,id => 7,name => <<"ann">>,role => admin}
}

func ExampleUnmarshal() {
	// term_to_binary(#{name => "ann", age => 42, tags => [<<"a">>], extra => ok})
	data, err := etf.Marshal(etf.Map{
		{Key: etf.Atom("name"), Value: etf.CharList("ann")},
		{Key: etf.Atom("age"), Value: 42},
		{Key: etf.Atom("tags"), Value: etf.List{etf.Binary("a")}},
		{Key: etf.Atom("extra"), Value: etf.OK},
	})
	if err != nil {
		panic(err)
	}
	var user struct {
		Name    string // a char list or a binary
		Age     uint8
		Tags    []string
		Manager *string // missing: left nil
	}
	if err := etf.Unmarshal(data, &user); err != nil {
		panic(err)
	}
	fmt.Printf("%s %d %q %v\n", user.Name, user.Age, user.Tags, user.Manager)

	// A term that does not fit is a typed error naming the field.
	bad, _ := etf.Marshal(etf.Map{{Key: etf.Atom("age"), Value: 300}})
	err = etf.Unmarshal(bad, &user)
	fmt.Println(err)
	// Output:
	// ann 42 ["a"] <nil>
	// etf: cannot unmarshal integer into Go field age of type uint8: etf: number out of range: 300 does not fit in uint8
}

// Person is encoded as the Erlang record #person{name, age}.
type Person struct {
	_    struct{} `etf:"record,person"`
	Name string
	Age  int
}

func Example_record() {
	t, err := etf.ToTerm(Person{Name: "ann", Age: 42})
	if err != nil {
		panic(err)
	}
	fmt.Println(etf.Format(t))

	var p Person
	err = etf.FromTerm(etf.Tuple{etf.Atom("person"), etf.Binary("bob"), int64(7)}, &p)
	fmt.Println(p.Name, p.Age, err)
	// Output:
	// {person,<<"ann">>,42}
	// bob 7 <nil>
}

// User is encoded as the Elixir struct %MyApp.User{}.
type User struct {
	_       struct{} `etf:"elixir,Elixir.MyApp.User"`
	Name    string
	Manager *User
}

func Example_elixirStruct() {
	// Elixir writes nil for a missing value.
	data, err := etf.MarshalOptions{NilAtom: etf.Nil}.Marshal(User{Name: "ann"})
	if err != nil {
		panic(err)
	}
	t, _ := etf.Decode(data)
	fmt.Println(etf.Format(t))

	var u User
	err = etf.UnmarshalOptions{NilAtom: etf.Nil}.Unmarshal(data, &u)
	fmt.Println(u.Name, u.Manager, err)
	// Output:
	// #{'__struct__' => 'Elixir.MyApp.User',manager => nil,name => <<"ann">>}
	// ann <nil> <nil>
}
