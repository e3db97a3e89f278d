package charts

import (
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func subjectAccessReview(ns, sa string, a access) *authzv1.SubjectAccessReview {
	resNS := a.namespace
	if resNS == "" {
		resNS = ns
	}
	return &authzv1.SubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{},
		Spec: authzv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:" + ns + ":" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace:   resNS,
				Group:       a.group,
				Resource:    a.resource,
				Subresource: a.subresource,
				Verb:        a.verb,
			},
		},
	}
}
