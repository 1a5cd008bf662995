package rules

import "testing"

func TestCategoryPrefix(t *testing.T) {
	for _, tc := range []struct {
		cat   string
		depth int
		want  string
	}{
		{"shoes/running/trail", 1, "shoes"},
		{"shoes/running/trail", 2, "shoes/running"},
		{"shoes/running/trail", 3, "shoes/running/trail"},
		{"shoes/running/trail", 9, "shoes/running/trail"},
		{"shoes", 1, "shoes"},
		{"/shoes/", 1, "shoes"},
		{"", 1, ""},
	} {
		if got := categoryPrefix(tc.cat, tc.depth); got != tc.want {
			t.Errorf("categoryPrefix(%q, %d) = %q, want %q", tc.cat, tc.depth, got, tc.want)
		}
	}
}

func TestInCategories(t *testing.T) {
	for _, tc := range []struct {
		cat  string
		cats []string
		want bool
	}{
		{"shoes", []string{"shoes"}, true},
		{"shoes/running", []string{"shoes"}, true},
		{"shoestring", []string{"shoes"}, false},
		{"shoes", []string{"shoes/running"}, false},
		{"", []string{"shoes"}, false},
		{"bags", []string{"shoes", "bags"}, true},
	} {
		if got := inCategories(tc.cat, tc.cats); got != tc.want {
			t.Errorf("inCategories(%q, %q) = %v, want %v", tc.cat, tc.cats, got, tc.want)
		}
	}
}
