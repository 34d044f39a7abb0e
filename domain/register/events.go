package register

// SchoolStream is the event stream of one school of the register.
func SchoolStream(code string) string { return "school-" + code }

// Event types of a school's stream; the register's use cases write them.
const (
	TypeSchoolRegistered = "SchoolRegistered"
	TypeSchoolUpdated    = "SchoolUpdated"
)

// SchoolRegistered: the school joins the register with this record.
type SchoolRegistered School

// SchoolUpdated: the school's record is replaced by this one (its code stays);
// the stream keeps every earlier record as its history.
type SchoolUpdated School
