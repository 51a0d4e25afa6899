package selector

import "testing"

// BenchmarkNormalize: one typical selector of each type.
func BenchmarkNormalize(b *testing.B) {
	cases := []struct {
		typ    string
		s      Selector
		region string
	}{
		{TypePhone, Selector{Type: TypePhone, Value: "020 7946 0018"}, "GBR"},
		{TypeIBAN, Selector{Type: TypeIBAN, Value: "GB82 WEST 1234 5698 7654 32"}, ""},
		{TypeEmail, Selector{Type: TypeEmail, Value: "Jane.Doe+tips@Bücher.de"}, ""},
		{TypeVehicle, Selector{Type: TypeVehicle, Value: "А123ВС 77", Country: "RUS"}, ""},
		{TypeDocument, Selector{Type: TypeDocument, Value: "1234 56789", Country: "GBR", DocumentType: DocPassport}, ""},
		{TypePerson, Selector{Type: TypePerson, Name: "Петров Иван Сергеевич", DateOfBirth: "1980-02-03"}, ""},
	}
	for _, c := range cases {
		b.Run(c.typ, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Normalize(c.s, c.region); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBlind(b *testing.B) {
	k := testKey(1, 0)
	n := Normalized{TypePhone, "phone:+442079460018"}
	b.ReportAllocs()
	for b.Loop() {
		k.Blind(n)
	}
}
