package dot_test

import (
	"fmt"

	"github.com/polecam/polecam/recommender/dot"
)

func ExampleScores() {
	// Three items with two factors each, padded to a stride of 4.
	items := []float32{
		1, 0, 0, 0,
		0, 1, 0, 0,
		2, 3, 0, 0,
	}
	user := []float32{0.5, 2}
	scores := make([]float32, 3)
	dot.Scores(scores, items, 4, user)
	fmt.Println(scores)
	// Output: [0.5 2 7]
}
